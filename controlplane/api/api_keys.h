/* Admin handlers for API keys (api_keys.c), usage plans and usage (api_plans.c). Each is an
 * edge_rpc_unary_fn whose ctx is the struct cp_ctx, as in api_internal.h. */
#ifndef CP_API_KEYS_H
#define CP_API_KEYS_H

#include "api_internal.h"

/* Limits on plans and keys. */
#define CP_MAX_PLAN_STAGES          64
#define CP_MAX_PLAN_ROUTE_THROTTLES 256
#define CP_MAX_KEY_PLANS            64
#define CP_KEY_SECRET_MIN_LEN       20
#define CP_KEY_SECRET_MAX_LEN       256
#define CP_KEY_PREFIX_LEN           8
#define CP_PLAN_MAX_RATE            1e6
#define CP_PLAN_MAX_BURST           1000000u
#define CP_PLAN_MAX_QUOTA           1000000000000ull

CP_API_HANDLER(cp_api_create_api_key);
CP_API_HANDLER(cp_api_get_api_key);
CP_API_HANDLER(cp_api_list_api_keys);
CP_API_HANDLER(cp_api_set_api_key_enabled);
CP_API_HANDLER(cp_api_rotate_api_key);
CP_API_HANDLER(cp_api_delete_api_key);

CP_API_HANDLER(cp_api_create_usage_plan);
CP_API_HANDLER(cp_api_get_usage_plan);
CP_API_HANDLER(cp_api_list_usage_plans);
CP_API_HANDLER(cp_api_update_usage_plan);
CP_API_HANDLER(cp_api_delete_usage_plan);
CP_API_HANDLER(cp_api_add_plan_key);
CP_API_HANDLER(cp_api_remove_plan_key);
CP_API_HANDLER(cp_api_get_usage);

#endif
