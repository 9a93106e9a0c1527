/* The cache directory of the config client (see cpcache.h). */
#include "cpcache.h"

#include "pb.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_INFIX ".tmp."

int
dp_cpcache_mkdir(const char *dir)
{
    char path[PATH_MAX];
    size_t n = strlen(dir);

    if (n == 0)
        return -EINVAL;
    if (n >= sizeof(path))
        return -ENAMETOOLONG;
    memcpy(path, dir, n + 1);
    /* Parents first, as mkdir -p does; each one may already exist. */
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            return -errno;
        path[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int
dp_cpcache_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int
dp_cpcache_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;

    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        rc = -errno;
    (void)close(fd);
    return rc;
}

int
dp_cpcache_write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char tmp[PATH_MAX], dst[PATH_MAX];
    int fd, rc;

    if (snprintf(dst, sizeof(dst), "%s/%s", dir, name) >= (int)sizeof(dst) ||
        snprintf(tmp, sizeof(tmp), "%s/%s" TMP_INFIX "XXXXXX", dir, name) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    rc = dp_cpcache_write_all(fd, data, len);
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, dst) < 0)
        rc = -errno;
    if (rc < 0) {
        (void)unlink(tmp);
        return rc;
    }
    /* The rename is durable only once the directory is. */
    return dp_cpcache_fsync_dir(dir);
}

int
dp_cpcache_write(const char *dir, const Edge__V1__ConfigUpdate *config)
{
    size_t len = protobuf_c_message_get_packed_size(&config->base);
    uint8_t *buf = malloc(len ? len : 1);
    int rc;

    if (!buf)
        return -ENOMEM;
    protobuf_c_message_pack(&config->base, buf);
    rc = dp_cpcache_write_file(dir, DP_CPCACHE_SNAPSHOT, buf, len);
    free(buf);
    return rc;
}

/* Removes "<name>.tmp.*" files: writes that a crash interrupted before their rename. */
void
dp_cpcache_remove_temps(const char *dir, const char *name)
{
    char prefix[NAME_MAX + 1];
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d)
        return;
    (void)snprintf(prefix, sizeof(prefix), "%s" TMP_INFIX, name);
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            (void)unlinkat(dirfd(d), e->d_name, 0);
    }
    (void)closedir(d);
}

int
dp_cpcache_read_file(const char *path, size_t max_bytes, uint8_t **ret_buf, size_t *ret_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    uint8_t *buf;
    size_t len = 0;

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        int rc = -errno;
        (void)close(fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max_bytes) {
        (void)close(fd);
        return -EBADMSG;
    }
    buf = malloc(st.st_size ? (size_t)st.st_size : 1);
    if (!buf) {
        (void)close(fd);
        return -ENOMEM;
    }
    while (len < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + len, (size_t)st.st_size - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int rc = r < 0 ? -errno : -EBADMSG; /* shrank under us */
            free(buf);
            (void)close(fd);
            return rc;
        }
        len += (size_t)r;
    }
    (void)close(fd);
    *ret_buf = buf;
    *ret_len = len;
    return 0;
}

int
dp_cpcache_read(const char *dir, Edge__V1__ConfigUpdate **ret_config)
{
    char path[PATH_MAX];
    uint8_t *buf;
    size_t len;
    int rc;

    dp_cpcache_remove_temps(dir, DP_CPCACHE_SNAPSHOT);
    if (snprintf(path, sizeof(path), "%s/%s", dir, DP_CPCACHE_SNAPSHOT) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    rc = dp_cpcache_read_file(path, DP_CPCACHE_MAX_SNAPSHOT_BYTES, &buf, &len);
    if (rc < 0)
        return rc;
    Edge__V1__ConfigUpdate *cfg = edge__v1__config_update__unpack(NULL, len, buf);
    free(buf);
    if (!cfg)
        return -EBADMSG;
    if (!cfg->full || cfg->revision == 0 || cfg->n_remove) {
        edge_pb_free(cfg);
        return -EBADMSG;
    }
    *ret_config = cfg;
    return 0;
}

bool
dp_cpcache_node_id_valid(const char *id)
{
    size_t n = strlen(id);

    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return false;
    }
    return true;
}

int
dp_cpcache_new_node_id(char *buf, size_t len)
{
    unsigned char rnd[6];
    size_t got = 0;

    while (got < sizeof(rnd)) {
        ssize_t r = getrandom(rnd + got, sizeof(rnd) - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)r;
    }
    if (len < 16)
        return -ENOSPC;
    (void)snprintf(buf, len, "dp-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
                   rnd[5]);
    return 0;
}

int
dp_cpcache_node_id(const char *dir, char *buf, size_t len)
{
    char path[PATH_MAX], line[256];
    uint8_t *data;
    size_t n;
    int rc;

    if (snprintf(path, sizeof(path), "%s/%s", dir, DP_CPCACHE_NODE_ID) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    rc = dp_cpcache_read_file(path, sizeof(line) - 1, &data, &n);
    if (rc == -ENOENT) {
        dp_cpcache_remove_temps(dir, DP_CPCACHE_NODE_ID);
        rc = dp_cpcache_new_node_id(line, sizeof(line));
        if (rc < 0)
            return rc;
        size_t idlen = strlen(line);
        line[idlen] = '\n';
        rc = dp_cpcache_write_file(dir, DP_CPCACHE_NODE_ID, line, idlen + 1);
        line[idlen] = '\0';
        if (rc < 0)
            return rc;
        if (idlen + 1 > len)
            return -ENOSPC;
        memcpy(buf, line, idlen + 1);
        return DP_CPCACHE_CREATED;
    }
    if (rc < 0)
        return rc;
    memcpy(line, data, n);
    free(data);
    /* One line; surrounding white space (an editor's newline) does not count. */
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                     line[n - 1] == '\t'))
        n--;
    line[n] = '\0';
    char *id = line;
    while (*id == ' ' || *id == '\t')
        id++;
    if (!dp_cpcache_node_id_valid(id))
        return -EBADMSG;
    if (strlen(id) + 1 > len)
        return -ENOSPC;
    memcpy(buf, id, strlen(id) + 1);
    return 0;
}
