/* mailctl_dns.h - "mailctl dns [--check] DOMAIN". */
#ifndef MAIL_MAILCTL_DNS_H
#define MAIL_MAILCTL_DNS_H

#include "config.h"

/* argv: the words after "dns". Prints the records (or, with --check, one verdict per record).
 * Returns the exit status: 0; 1 some record is missing or wrong; 64 usage; 65 DOMAIN is not
 * one of cfg->domains; 69 the resolver cannot be set up. */
int mailctl_dns(const struct config *cfg, int argc, char **argv);

#endif
