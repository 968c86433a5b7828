// deferwatch's layer over libspf2: an SPF evaluation whose DNS lookups go to a callback
// (deferwatch's own resolver, or recorded answers in tests), so that what the evaluation
// saw can be shown as evidence and the resolvers are the configured ones.
#ifndef DEFERWATCH_CSPF_H
#define DEFERWATCH_CSPF_H
#include <stddef.h>

// One lookup's answer is built through these, from the callback: the status (0 records,
// 1 no such name, 2 no data, 3 no answer: a temporary error), then each record's value as
// text (A/AAAA an address, MX "preference name" or a name, PTR a name, TXT the text).
typedef struct dw_spf_answer dw_spf_answer;
void dw_spf_answer_status(dw_spf_answer *a, int status, unsigned int ttl);
int dw_spf_answer_add(dw_spf_answer *a, const char *value);

// Answers a lookup of name and type (an RR type number) into answer.
typedef void (*dw_spf_lookup)(void *ctx, const char *name, int type, dw_spf_answer *answer);

// Evaluates the SPF policy of sender (an address or a domain; the HELO name when empty)
// for client_ip. Returns libspf2's result (1 neutral, 2 pass, 3 fail, 4 softfail, 5 none,
// 6 temperror, 7 permerror; 0 when the request itself was refused, with why in comment).
// comment: libspf2's explanation; errors: its error and warning messages, one per line.
int dw_spf_check(const char *client_ip, const char *helo, const char *sender, int max_dns_mech,
                 dw_spf_lookup lookup, void *ctx, char *comment, size_t comment_len,
                 char *errors, size_t errors_len);
#endif
