#define _GNU_SOURCE
#include "cspf.h"
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <spf2/spf.h>
#include <spf2/spf_dns.h>

struct dw_spf_answer {
    SPF_dns_rr_t *rr;
};

struct layer_hook {
    dw_spf_lookup lookup;
    void *ctx;
};

void dw_spf_answer_status(dw_spf_answer *a, int status, unsigned int ttl) {
    switch (status) {
    case 0: a->rr->herrno = NETDB_SUCCESS; break;
    case 1: a->rr->herrno = HOST_NOT_FOUND; break;
    case 2: a->rr->herrno = NO_DATA; break;
    default: a->rr->herrno = TRY_AGAIN; break;
    }
    a->rr->ttl = ttl;
}

int dw_spf_answer_add(dw_spf_answer *a, const char *value) {
    SPF_dns_rr_t *rr = a->rr;
    int i = rr->num_rr;
    switch (rr->rr_type) {
    case ns_t_a: {
        struct in_addr v4;
        if (inet_pton(AF_INET, value, &v4) != 1) return -1;
        if (SPF_dns_rr_buf_realloc(rr, i, sizeof v4) != SPF_E_SUCCESS) return -1;
        rr->rr[i]->a = v4;
        break;
    }
    case ns_t_aaaa: {
        struct in6_addr v6;
        if (inet_pton(AF_INET6, value, &v6) != 1) return -1;
        if (SPF_dns_rr_buf_realloc(rr, i, sizeof v6) != SPF_E_SUCCESS) return -1;
        rr->rr[i]->aaaa = v6;
        break;
    }
    case ns_t_mx: {
        // "preference name": libspf2 wants the name only.
        const char *space = strchr(value, ' ');
        const char *name = space ? space + 1 : value;
        size_t n = strlen(name) + 1;
        if (SPF_dns_rr_buf_realloc(rr, i, n) != SPF_E_SUCCESS) return -1;
        memcpy(rr->rr[i]->mx, name, n);
        break;
    }
    default: {
        size_t n = strlen(value) + 1;
        if (SPF_dns_rr_buf_realloc(rr, i, n) != SPF_E_SUCCESS) return -1;
        memcpy(rr->rr[i]->txt, value, n);
        break;
    }
    }
    rr->num_rr = i + 1;
    return 0;
}

static SPF_dns_rr_t *layer_lookup(SPF_dns_server_t *server, const char *domain, ns_type type, int should_cache) {
    (void)should_cache;
    struct layer_hook *hook = server->hook;
    SPF_dns_rr_t *rr = SPF_dns_rr_new_init(server, domain, type, 0, TRY_AGAIN);
    if (!rr) return NULL;
    // The long-gone SPF record type: nobody publishes it; not asked.
    if (type == ns_t_spf) {
        rr->herrno = NO_DATA;
        return rr;
    }
    dw_spf_answer a = { rr };
    hook->lookup(hook->ctx, domain, (int)type, &a);
    if (rr->herrno == NETDB_SUCCESS && rr->num_rr == 0) rr->herrno = NO_DATA;
    return rr;
}

static void append(char *buf, size_t len, const char *s) {
    size_t used = strlen(buf);
    if (used + 1 >= len) return;
    snprintf(buf + used, len - used, "%s\n", s);
}

int dw_spf_check(const char *client_ip, const char *helo, const char *sender, int max_dns_mech,
                 dw_spf_lookup lookup, void *ctx, char *comment, size_t comment_len,
                 char *errors, size_t errors_len) {
    comment[0] = 0;
    errors[0] = 0;
    struct layer_hook hook = { lookup, ctx };
    SPF_dns_server_t layer;
    memset(&layer, 0, sizeof layer);
    layer.destroy = NULL; // ours: libspf2 must not free it
    layer.lookup = layer_lookup;
    layer.name = "deferwatch";
    layer.hook = &hook;
    SPF_server_t *server = SPF_server_new_dns(&layer, 0);
    if (!server) {
        snprintf(comment, comment_len, "libspf2 could not make a server");
        return 0;
    }
    if (max_dns_mech > 0) SPF_server_set_max_dns_mech(server, max_dns_mech);
    SPF_request_t *req = SPF_request_new(server);
    int result = 0;
    struct in6_addr probe;
    SPF_errcode_t e = inet_pton(AF_INET6, client_ip, &probe) == 1 ? SPF_request_set_ipv6_str(req, client_ip)
                                                                 : SPF_request_set_ipv4_str(req, client_ip);
    if (e == SPF_E_SUCCESS && helo && *helo) e = SPF_request_set_helo_dom(req, helo);
    if (e == SPF_E_SUCCESS && sender && *sender) e = SPF_request_set_env_from(req, sender) == 0 ? SPF_E_SUCCESS : SPF_E_INVALID_CHAR;
    if (e != SPF_E_SUCCESS) {
        snprintf(comment, comment_len, "%s", SPF_strerror(e));
    } else {
        SPF_response_t *resp = NULL;
        SPF_errcode_t err = SPF_request_query_mailfrom(req, &resp);
        if (resp) {
            result = (int)SPF_response_result(resp);
            if (result == SPF_RESULT_INVALID) {
                // No result: a lookup that failed is a temperror; a record that does not
                // compile is a permerror (RFC 7208 section 2.6).
                SPF_errcode_t why = err != SPF_E_SUCCESS ? err : SPF_response_errcode(resp);
                // "Not SPF" after a record failed to compile is that record's error.
                int compiled = 1;
                for (int i = 0; i < SPF_response_messages(resp); i++) {
                    SPF_errcode_t c = SPF_error_code(SPF_response_message(resp, i));
                    if (c != SPF_E_SUCCESS && c != SPF_E_NOT_SPF && c != SPF_E_DNS_ERROR) compiled = 0;
                }
                result = why == SPF_E_DNS_ERROR ? SPF_RESULT_TEMPERROR
                       : why == SPF_E_NOT_SPF && compiled ? SPF_RESULT_NONE : SPF_RESULT_PERMERROR;
            }
            const char *c = SPF_response_get_header_comment(resp);
            if (c) snprintf(comment, comment_len, "%s", c);
            for (int i = 0; i < SPF_response_messages(resp); i++) {
                SPF_error_t *m = SPF_response_message(resp, i);
                if (m && SPF_error_message(m)) append(errors, errors_len, SPF_error_message(m));
            }
            SPF_response_free(resp);
        }
    }
    SPF_request_free(req);
    SPF_server_free(server);
    return result;
}
