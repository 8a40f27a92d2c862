/* str.h - the one home of small string helpers: hex digits, lower-casing, escaping for logs and terminals. */
#ifndef MAIL_STR_H
#define MAIL_STR_H

#include <stddef.h>

/* The value of a hexadecimal digit (either case), or -1. */
int hex_value(char c);

/* Lower-cases ASCII letters of s in place; returns s. */
char *str_lower(char *s);

#endif
