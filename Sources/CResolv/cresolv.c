#define _GNU_SOURCE
#include "cresolv.h"
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dw_resolver {
    struct __res_state state;
};

dw_resolver *dw_resolver_new(const char *const *servers, const int *ports, int count,
                             int timeout_seconds, int attempts, char *err, size_t errlen) {
    dw_resolver *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (res_ninit(&r->state) != 0) {
        snprintf(err, errlen, "res_ninit failed (is /etc/resolv.conf readable?)");
        free(r);
        return NULL;
    }
    if (count > MAXNS) count = MAXNS;
    if (count > 0) {
        for (int i = 0; i < count; i++) {
            struct sockaddr_in *sa = &r->state.nsaddr_list[i];
            memset(sa, 0, sizeof *sa);
            sa->sin_family = AF_INET;
            sa->sin_port = htons((unsigned short)ports[i]);
            if (inet_pton(AF_INET, servers[i], &sa->sin_addr) != 1) {
                snprintf(err, errlen, "%s is not an IPv4 address", servers[i]);
                res_nclose(&r->state);
                free(r);
                return NULL;
            }
        }
        r->state.nscount = count;
        // Only the servers given: none of resolv.conf's IPv6 ones. res_nsend copies the
        // list again when its private copy is empty.
        for (int i = 0; i < MAXNS; i++) {
            free(r->state._u._ext.nsaddrs[i]);
            r->state._u._ext.nsaddrs[i] = NULL;
        }
        r->state._u._ext.nscount = 0;
    }
    if (timeout_seconds > 0) r->state.retrans = timeout_seconds;
    if (attempts > 0) r->state.retry = attempts;
    // No search list and no appended domain: the names asked are the names meant.
    r->state.options &= ~(unsigned long)(RES_DEFNAMES | RES_DNSRCH);
    return r;
}

void dw_resolver_free(dw_resolver *r) {
    if (!r) return;
    res_nclose(&r->state);
    free(r);
}

int dw_query(dw_resolver *r, const char *name, int type, unsigned char *answer, int answer_len) {
    unsigned char query[NS_PACKETSZ + 64];
    int qlen = res_nmkquery(&r->state, ns_o_query, name, ns_c_in, type, NULL, 0, NULL, query, sizeof query);
    if (qlen < 0) return -2;
    errno = 0;
    int n = res_nsend(&r->state, query, qlen, answer, answer_len);
    if (n < 0) {
        if (errno == 0) errno = ETIMEDOUT;
        return -1;
    }
    return n;
}

int dw_answer_rcode(const unsigned char *msg, int len) {
    ns_msg handle;
    if (ns_initparse(msg, len, &handle) < 0) return -1;
    return ns_msg_getflag(handle, ns_f_rcode);
}

int dw_answer_count(const unsigned char *msg, int len) {
    ns_msg handle;
    if (ns_initparse(msg, len, &handle) < 0) return -1;
    return ns_msg_count(handle, ns_s_an);
}

int dw_answer_record(const unsigned char *msg, int len, int index, int *type, unsigned int *ttl,
                     char *out, size_t out_len) {
    ns_msg handle;
    ns_rr rr;
    if (out_len == 0) return -1;
    if (ns_initparse(msg, len, &handle) < 0) return -1;
    if (ns_parserr(&handle, ns_s_an, index, &rr) < 0) return -1;
    *type = ns_rr_type(rr);
    *ttl = ns_rr_ttl(rr);
    const unsigned char *rd = ns_rr_rdata(rr);
    int rdlen = ns_rr_rdlen(rr);
    const unsigned char *eom = ns_msg_end(handle);
    out[0] = 0;
    switch (*type) {
    case ns_t_a:
        if (rdlen != 4 || !inet_ntop(AF_INET, rd, out, out_len)) return -1;
        return (int)strlen(out);
    case ns_t_aaaa:
        if (rdlen != 16 || !inet_ntop(AF_INET6, rd, out, out_len)) return -1;
        return (int)strlen(out);
    case ns_t_ptr:
    case ns_t_cname:
    case ns_t_ns: {
        if (ns_name_uncompress(ns_msg_base(handle), eom, rd, out, out_len) < 0) return -1;
        size_t l = strlen(out);
        if (l > 1 && out[l - 1] == '.') out[--l] = 0;
        return (int)l;
    }
    case ns_t_mx: {
        if (rdlen < 3) return -1;
        unsigned pref = ((unsigned)rd[0] << 8) | rd[1];
        char name[NS_MAXDNAME];
        if (ns_name_uncompress(ns_msg_base(handle), eom, rd + 2, name, sizeof name) < 0) return -1;
        size_t l = strlen(name);
        if (l > 1 && name[l - 1] == '.') name[--l] = 0;
        int w = snprintf(out, out_len, "%u %s", pref, name);
        return (w < 0 || (size_t)w >= out_len) ? -1 : w;
    }
    case ns_t_txt: {
        size_t w = 0;
        int i = 0;
        while (i < rdlen) {
            int n = rd[i++];
            if (i + n > rdlen || w + (size_t)n >= out_len) return -1;
            memcpy(out + w, rd + i, (size_t)n);
            w += (size_t)n;
            i += n;
        }
        out[w] = 0;
        return (int)w;
    }
    default:
        return 0;
    }
}
