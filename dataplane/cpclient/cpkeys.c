/* The API keys of the cache directory: a base and a log (see cpkeys.h). */
#include "cpkeys.h"

#include "cpcache.h"
#include "pb.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* put is field 5 and remove field 6 of ConfigUpdate, both length-delimited. */
#define PUT_TAG    ((5 << 3) | 2)
#define REMOVE_TAG ((6 << 3) | 2)
/* A log record bigger than this is not one (a torn or foreign file). */
#define RECORD_MAX ((size_t)256 << 20)

static int
path_of(char *out, size_t len, const char *dir, const char *name)
{
    return snprintf(out, len, "%s/%s", dir, name) >= (int)len ? -ENAMETOOLONG : 0;
}

/* A key as the cache keeps it: what the node uses, nothing else. */
static void
minimal_key(const char *id, const Edge__V1__ApiKey *in, Edge__V1__ApiKey *k, Edge__V1__Resource *r)
{
    edge__v1__api_key__init(k);
    k->id = (char *)id;
    k->enabled = in->enabled;
    k->expires_at = in->expires_at;
    k->n_plans = in->n_plans;
    k->plans = in->plans;
    k->secret_sha256 = in->secret_sha256;
    edge__v1__resource__init(r);
    r->type = EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_KEY;
    r->id = (char *)id;
    r->body_case = EDGE__V1__RESOURCE__BODY_KEY;
    r->key = k;
}

/* Appends tag + length + the packed message to buf (grown as needed). */
static int
append_field(uint8_t **buf, size_t *len, size_t *cap, uint8_t tag, const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    size_t need = *len + 1 + edge_pb_varint_size(n) + n;
    if (need > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < need)
            c *= 2;
        uint8_t *b = realloc(*buf, c);
        if (!b)
            return -ENOMEM;
        *buf = b;
        *cap = c;
    }
    uint8_t *w = *buf + *len;
    *w++ = tag;
    w = edge_pb_put_varint(w, n);
    w += protobuf_c_message_pack(msg, w);
    *len = (size_t)(w - *buf);
    return 0;
}

/* ---- the base ------------------------------------------------------------------------ */

struct dp_cpkeys_writer {
    char dir[PATH_MAX], tmp[PATH_MAX];
    FILE *f;
    uint8_t *buf;
    size_t cap;
    int err;
};

int
dp_cpkeys_begin(const char *dir, const char *store_id, uint64_t revision,
                struct dp_cpkeys_writer **ret)
{
    struct dp_cpkeys_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    int rc = path_of(w->dir, sizeof(w->dir), dir, "");
    if (rc == 0)
        rc = path_of(w->tmp, sizeof(w->tmp), dir, DP_CPKEYS_BASE ".tmp.XXXXXX");
    int fd = rc == 0 ? mkostemp(w->tmp, O_CLOEXEC) : -1;
    if (fd < 0) {
        free(w);
        return rc < 0 ? rc : -errno;
    }
    snprintf(w->dir, sizeof(w->dir), "%s", dir);
    w->f = fdopen(fd, "w");
    if (!w->f) {
        rc = -errno;
        (void)close(fd);
        (void)unlink(w->tmp);
        free(w);
        return rc;
    }
    Edge__V1__ConfigUpdate head = EDGE__V1__CONFIG_UPDATE__INIT;
    head.revision = revision;
    head.store_id = (char *)store_id;
    head.full = true;
    size_t n = protobuf_c_message_get_packed_size(&head.base);
    uint8_t small[512];
    uint8_t *hb = n <= sizeof(small) ? small : malloc(n);
    if (!hb) {
        dp_cpkeys_abort(w);
        return -ENOMEM;
    }
    protobuf_c_message_pack(&head.base, hb);
    if (fwrite(hb, 1, n, w->f) != n)
        w->err = -EIO;
    if (hb != small)
        free(hb);
    *ret = w;
    return 0;
}

int
dp_cpkeys_add(struct dp_cpkeys_writer *w, const char *id, const Edge__V1__ApiKey *key)
{
    if (w->err)
        return w->err;
    Edge__V1__ApiKey k;
    Edge__V1__Resource r;
    minimal_key(id, key, &k, &r);
    size_t len = 0;
    int rc = append_field(&w->buf, &len, &w->cap, PUT_TAG, &r.base);
    if (rc == 0 && fwrite(w->buf, 1, len, w->f) != len)
        rc = -EIO;
    if (rc < 0)
        w->err = rc;
    return rc;
}

void
dp_cpkeys_abort(struct dp_cpkeys_writer *w)
{
    if (!w)
        return;
    if (w->f)
        (void)fclose(w->f);
    (void)unlink(w->tmp);
    free(w->buf);
    free(w);
}

int
dp_cpkeys_commit(struct dp_cpkeys_writer *w)
{
    char dst[PATH_MAX], log[PATH_MAX];
    int rc = w->err;
    if (rc == 0)
        rc = path_of(dst, sizeof(dst), w->dir, DP_CPKEYS_BASE);
    if (rc == 0)
        rc = path_of(log, sizeof(log), w->dir, DP_CPKEYS_LOG);
    if (rc == 0 && (fflush(w->f) != 0 || fsync(fileno(w->f)) < 0))
        rc = -errno;
    if (fclose(w->f) != 0 && rc == 0)
        rc = -errno;
    w->f = NULL;
    if (rc == 0 && rename(w->tmp, dst) < 0)
        rc = -errno;
    if (rc < 0) {
        dp_cpkeys_abort(w);
        return rc;
    }
    free(w->buf);
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", w->dir);
    free(w);
    /* The log's records are in the base now (a crash before this leaves records at or below
     * the base's revision, which a load skips). */
    rc = dp_cpcache_fsync_dir(dir);
    if (rc == 0 && truncate(log, 0) < 0 && errno != ENOENT)
        rc = -errno;
    return rc;
}

/* ---- the log ------------------------------------------------------------------------- */

static size_t
file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

int
dp_cpkeys_append(const char *dir, uint64_t revision, const struct dp_key_changes *keys,
                 size_t *ret_log, size_t *ret_base)
{
    char base[PATH_MAX], log[PATH_MAX];
    int rc = path_of(base, sizeof(base), dir, DP_CPKEYS_BASE);
    if (rc == 0)
        rc = path_of(log, sizeof(log), dir, DP_CPKEYS_LOG);
    if (rc < 0)
        return rc;
    *ret_base = file_size(base);
    *ret_log = file_size(log);
    if (*ret_base == 0 && access(base, F_OK) < 0)
        return -ENOENT;

    Edge__V1__ConfigUpdate head = EDGE__V1__CONFIG_UPDATE__INIT;
    head.revision = revision;
    size_t hn = protobuf_c_message_get_packed_size(&head.base);
    size_t cap = hn + 4 + 256, len = 4 + hn;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    protobuf_c_message_pack(&head.base, buf + 4);
    for (size_t i = 0; i < keys->n && rc == 0; i++) {
        const struct dp_key_change *c = &keys->changes[i];
        if (c->key) {
            Edge__V1__ApiKey k;
            Edge__V1__Resource r;
            minimal_key(c->id, c->key, &k, &r);
            rc = append_field(&buf, &len, &cap, PUT_TAG, &r.base);
        } else {
            Edge__V1__ResourceRef ref = EDGE__V1__RESOURCE_REF__INIT;
            ref.type = EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_KEY;
            ref.id = (char *)c->id;
            rc = append_field(&buf, &len, &cap, REMOVE_TAG, &ref.base);
        }
    }
    if (rc == 0 && len - 4 > RECORD_MAX)
        rc = -EFBIG;
    if (rc < 0) {
        free(buf);
        return rc;
    }
    uint32_t body = (uint32_t)(len - 4);
    for (int i = 0; i < 4; i++)
        buf[i] = (uint8_t)(body >> (8 * i));
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        rc = -errno;
    if (rc == 0)
        rc = dp_cpcache_write_all(fd, buf, len);
    if (rc == 0 && fdatasync(fd) < 0)
        rc = -errno;
    if (fd >= 0)
        (void)close(fd);
    free(buf);
    if (rc == 0)
        *ret_log += len;
    return rc;
}

/* ---- loading ------------------------------------------------------------------------- */

struct op {
    const char *id;
    Edge__V1__Resource *res; /* NULL: removed */
    size_t seq;              /* later wins */
};

static int
op_cmp(const void *a, const void *b)
{
    const struct op *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct ops {
    struct op *v;
    size_t n, cap;
};

static int
ops_add(struct ops *o, const char *id, Edge__V1__Resource *res)
{
    if (o->n == o->cap) {
        size_t c = o->cap ? o->cap * 2 : 1024;
        struct op *v = realloc(o->v, c * sizeof(*v));
        if (!v)
            return -ENOMEM;
        o->v = v;
        o->cap = c;
    }
    o->v[o->n].id = id;
    o->v[o->n].res = res;
    o->v[o->n].seq = o->n;
    o->n++;
    return 0;
}

/* Takes upd's key puts and removes into o (the resources move; upd keeps the rest). */
static int
take_ops(struct ops *o, Edge__V1__ConfigUpdate *upd)
{
    size_t keep = 0;
    for (size_t i = 0; i < upd->n_put; i++) {
        Edge__V1__Resource *r = upd->put[i];
        if (r->body_case == EDGE__V1__RESOURCE__BODY_KEY && r->id) {
            if (ops_add(o, r->id, r) < 0)
                return -ENOMEM;
        } else {
            upd->put[keep++] = r;
        }
    }
    upd->n_put = keep;
    for (size_t i = 0; i < upd->n_remove; i++)
        if (upd->remove[i]->id && ops_add(o, upd->remove[i]->id, NULL) < 0)
            return -ENOMEM;
    return 0;
}

int
dp_cpkeys_load(const char *dir, Edge__V1__ConfigUpdate *cfg)
{
    char base[PATH_MAX], log[PATH_MAX];
    int rc = path_of(base, sizeof(base), dir, DP_CPKEYS_BASE);
    if (rc == 0)
        rc = path_of(log, sizeof(log), dir, DP_CPKEYS_LOG);
    if (rc < 0)
        return rc;
    dp_cpcache_remove_temps(dir, DP_CPKEYS_BASE);
    uint8_t *buf = NULL;
    size_t len = 0;
    rc = dp_cpcache_read_file(base, DP_CPCACHE_MAX_SNAPSHOT_BYTES, &buf, &len);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    Edge__V1__ConfigUpdate *b = edge__v1__config_update__unpack(NULL, len, buf);
    free(buf);
    if (!b || !b->full || b->revision > cfg->revision || strcmp(b->store_id, cfg->store_id) != 0) {
        edge_pb_free(b);
        return -EBADMSG;
    }
    struct ops o = {0};
    Edge__V1__ConfigUpdate **recs = NULL;
    size_t n_recs = 0, cap_recs = 0, cut = 0;
    rc = take_ops(&o, b);
    uint8_t *lb = NULL;
    size_t ll = 0;
    if (rc == 0) {
        int lr = dp_cpcache_read_file(log, DP_CPCACHE_MAX_SNAPSHOT_BYTES, &lb, &ll);
        if (lr < 0 && lr != -ENOENT)
            rc = lr;
    }
    /* Records in order, up to the first torn one; those past cfg's revision are not used. */
    for (size_t off = 0; rc == 0 && off + 4 <= ll;) {
        size_t n = (size_t)lb[off] | (size_t)lb[off + 1] << 8 | (size_t)lb[off + 2] << 16 |
                   (size_t)lb[off + 3] << 24;
        if (n > RECORD_MAX || off + 4 + n > ll)
            break;
        Edge__V1__ConfigUpdate *r = edge__v1__config_update__unpack(NULL, n, lb + off + 4);
        if (!r || r->revision > cfg->revision) {
            edge_pb_free(r);
            break;
        }
        off += 4 + n;
        cut = off;
        if (r->revision <= b->revision) { /* already in the base */
            edge_pb_free(r);
            continue;
        }
        if (n_recs == cap_recs) {
            size_t c = cap_recs ? cap_recs * 2 : 16;
            Edge__V1__ConfigUpdate **v = realloc(recs, c * sizeof(*v));
            if (!v) {
                edge_pb_free(r);
                rc = -ENOMEM;
                break;
            }
            recs = v;
            cap_recs = c;
        }
        recs[n_recs++] = r;
        rc = take_ops(&o, r);
    }
    free(lb);
    /* The last op of each key decides; the puts that survive join cfg. */
    size_t n_put = 0;
    Edge__V1__Resource **put = NULL;
    if (rc == 0) {
        if (o.n)
            qsort(o.v, o.n, sizeof(*o.v), op_cmp);
        put = realloc(cfg->put, (cfg->n_put + o.n + 1) * sizeof(*put));
        if (!put)
            rc = -ENOMEM;
        else
            cfg->put = put;
    }
    if (rc == 0) {
        n_put = cfg->n_put;
        for (size_t i = 0; i < o.n; i++) {
            bool last = i + 1 == o.n || strcmp(o.v[i].id, o.v[i + 1].id) != 0;
            if (last && o.v[i].res) {
                put[n_put++] = o.v[i].res;
                o.v[i].res = NULL;
            }
        }
        cfg->n_put = n_put;
        if (truncate(log, (off_t)cut) < 0 && errno != ENOENT)
            rc = 0; /* not fatal: the records past cut are skipped next time too */
    }
    for (size_t i = 0; i < o.n; i++)
        edge_pb_free(o.v[i].res);
    free(o.v);
    for (size_t i = 0; i < n_recs; i++)
        edge_pb_free(recs[i]);
    free(recs);
    edge_pb_free(b);
    return rc;
}
