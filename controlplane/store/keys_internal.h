/* Helpers shared by keys.c, plans.c and usage.c; each runs inside the caller's transaction. */
#ifndef CP_KEYS_INTERNAL_H
#define CP_KEYS_INTERNAL_H

#include "store.h"

#include <stdint.h>

/* The id of the key named by id or name (id first) into id: 0, or -ENOENT naming it. */
int cp_db_key_resolve(struct cp_store *st, const char *key, char id[16], struct cp_store_err *err);
/* The row id of plan name: 0, or -ENOENT with "<field>: plan 'x' not found". */
int cp_db_plan_resolve(struct cp_store *st, const char *field, const char *name, int64_t *ret_id,
                       struct cp_store_err *err);
/* The one-plan-per-stage rule for one key (key_id, plan_id 0) or every key of one plan
 * (key_id "", plan_id): 0, or -EBUSY naming the key, the stage and both plans. */
int cp_db_check_stage_rule(struct cp_store *st, const char *key_id, int64_t plan_id,
                           struct cp_store_err *err);
/* Subscribes key_id to plan_id (idempotent). */
int cp_db_plan_key_add(struct cp_store *st, int64_t plan_id, const char *key_id,
                       struct cp_store_err *err);
/* Drops secret_sha256: it travels on the Config stream only. */
void cp_db_key_strip_hash(Edge__V1__ApiKey *k);

#endif
