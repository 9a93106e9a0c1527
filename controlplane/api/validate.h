/* Input validation for the Admin service. Every function returns 0, or -EINVAL with a message
 * in err that starts with the field it is about ("upstream.targets[1].port: must be
 * 1..65535"). The cp_validate_<object>() functions also fill the documented defaults and
 * normalise (lower-case hosts and header names) in place, so the store gets canonical
 * objects: their strings must be writable (a copy of the request, as the handlers make). field
 * arguments name the field in messages and are borrowed. */
#ifndef CP_VALIDATE_H
#define CP_VALIDATE_H

#include "edge/v1/admin.pb-c.h"
#include "edge/v1/resources.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits on what the Admin service accepts. */
#define CP_MAX_NAME_LEN          63 /* API, stage, upstream, plan names */
#define CP_MAX_DESCRIPTION_LEN   1024
#define CP_MAX_HOST_LEN          253
#define CP_MAX_PATH_LEN          1024 /* route path template, upstream path, health check path */
#define CP_MAX_BASE_PATH_LEN     256
#define CP_MAX_HEADER_MATCHES    16
#define CP_MAX_HEADER_NAME_LEN   128
#define CP_MAX_HEADER_VALUE_LEN  1024
#define CP_MAX_TARGETS           256
#define CP_MAX_WEIGHT            1000
#define CP_MAX_TIMEOUT_MS        3600000u /* one hour */
#define CP_MAX_RETRIES           10
#define CP_MAX_POOL_SIZE         4096
#define CP_MAX_BODY_BYTES        (1ull << 30)
#define CP_MAX_VARIABLES         64
#define CP_MAX_VARIABLE_NAME_LEN 64
#define CP_MAX_VARIABLE_LEN      512
#define CP_MAX_THRESHOLD         100
#define CP_MAX_RATE              1e9
#define CP_MAX_BURST             1000000000u

#define CP_DEFAULT_CONNECT_TIMEOUT_MS 2000
#define CP_DEFAULT_TIMEOUT_MS         30000
#define CP_DEFAULT_POOL_SIZE          64
#define CP_DEFAULT_HC_INTERVAL_MS     10000
#define CP_DEFAULT_HC_TIMEOUT_MS      2000
#define CP_DEFAULT_HC_HEALTHY         2
#define CP_DEFAULT_HC_UNHEALTHY       3

/* [a-z0-9][a-z0-9._-]{0,62} */
int cp_validate_name(const char *field, const char *name, char *err, size_t err_len);
/* A route's upstream: an upstream name, or "${stageVariables.NAME}" (the whole string; the
 * stage's value names an upstream or gives host:port, resolved by each node per stage). */
int cp_validate_upstream_ref(const char *field, const char *ref, char *err, size_t err_len);
/* A host name (RFC 1123 labels) or an IPv4/IPv6 literal (IPv6 bare or in brackets). */
int cp_validate_host(const char *field, const char *host, char *err, size_t err_len);
int cp_validate_port(const char *field, uint32_t port, char *err, size_t err_len);
/* "*", an exact host name, or "*.suffix". */
int cp_validate_domain_host(const char *field, const char *host, char *err, size_t err_len);
/* "" or "/seg[/seg]...", no trailing slash, no templates. */
int cp_validate_base_path(const char *field, const char *path, char *err, size_t err_len);
/* edge_route_method_validate() with a message. */
int cp_validate_method(const char *field, const char *method, char *err, size_t err_len);
/* edge_route_template_validate() plus a length bound. */
int cp_validate_path_template(const char *field, const char *path, char *err, size_t err_len);
/* An RFC 9110 token name and a value of visible characters, spaces and tabs. */
int cp_validate_header_match(const char *field, const Edge__V1__HeaderMatch *h, char *err,
                             size_t err_len);
/* Name [A-Za-z0-9_]{1,64}, value at most CP_MAX_VARIABLE_LEN bytes without control
 * characters. */
int cp_validate_variable(const char *field, const char *name, const char *value, char *err,
                         size_t err_len);
/* At most max_len bytes, no control characters (free text: descriptions). */
int cp_validate_text(const char *field, const char *text, size_t max_len, char *err,
                     size_t err_len);
/* 0 <= ms <= CP_MAX_TIMEOUT_MS. */
int cp_validate_timeout(const char *field, uint32_t ms, char *err, size_t err_len);
int cp_validate_throttle(const char *field, const Edge__V1__Throttle *t, char *err, size_t err_len);
/* "" (when allow_empty) or prefix "-" 12 lowercase hex digits: route, deployment, key ids. */
int cp_validate_id(const char *field, const char *id, char prefix, bool allow_empty, char *err,
                   size_t err_len);

/* Whole objects: validate, fill defaults, normalise. */
int cp_validate_api(Edge__V1__Api *api, char *err, size_t err_len);
int cp_validate_route(Edge__V1__Route *route, bool need_id, char *err, size_t err_len);
int cp_validate_upstream(Edge__V1__Upstream *up, char *err, size_t err_len);
int cp_validate_stage(Edge__V1__Stage *stage, char *err, size_t err_len);
int cp_validate_domain(Edge__V1__DomainMapping *dm, char *err, size_t err_len);
int cp_validate_deployment_request(const Edge__V1__CreateDeploymentRequest *req, char *err,
                                   size_t err_len);

#endif
