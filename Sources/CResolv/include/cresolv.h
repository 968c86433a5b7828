// deferwatch's thin layer over glibc's libresolv: a resolver state of its own (servers,
// timeout, attempts), one query sent and its answer section read record by record. Swift
// cannot call the res_n* macros, and the state's server list is easier set from C.
#ifndef DEFERWATCH_CRESOLV_H
#define DEFERWATCH_CRESOLV_H
#include <stddef.h>

typedef struct dw_resolver dw_resolver;

// servers: IPv4 addresses (dotted quads) with their ports, at most 3; count 0 takes
// /etc/resolv.conf's. Returns NULL with a reason in err when the state cannot be made.
dw_resolver *dw_resolver_new(const char *const *servers, const int *ports, int count,
                             int timeout_seconds, int attempts, char *err, size_t errlen);
void dw_resolver_free(dw_resolver *r);

// Sends one query (class IN) for name and type. Returns the length of the answer message
// written to answer, or -1 when no server answered in time (or the query could not be
// sent; errno says which), -2 when the name is not a valid domain name.
int dw_query(dw_resolver *r, const char *name, int type, unsigned char *answer, int answer_len);

// The answer message's response code (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED, ...)
// and how many records its answer section holds; -1 when it does not parse.
int dw_answer_rcode(const unsigned char *msg, int len);
int dw_answer_count(const unsigned char *msg, int len);

// Record `index` of the answer section: its type, TTL and value in out (A and AAAA as
// addresses, PTR, CNAME and NS as names without the final dot, MX as "preference name",
// TXT as its strings joined without separator; other types empty). Returns the value's
// length, or -1 when the record does not parse or out is too small.
int dw_answer_record(const unsigned char *msg, int len, int index, int *type, unsigned int *ttl,
                     char *out, size_t out_len);
#endif
