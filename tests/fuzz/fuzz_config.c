/* fuzz_config.c - libFuzzer target: config_parse over arbitrary text, with invariants checked. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "xalloc.h"

static void fuzz_config_check_list(const struct config_hostport_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->items[i].port == 0 || l->items[i].host[0] == '\0')
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	struct config_milter m;
	const char *e;
	char err[512];
	uint64_t v;

	config_defaults(&cfg);
	if (config_parse(&cfg, "fuzz.conf", (const char *)data, size, err, sizeof(err)) == 0) {
		/* What the parser accepted is what every program relies on. */
		for (size_t i = 0; i < cfg.milters.n; i++)
			if (config_parse_milter(cfg.milters.items[i], &m, &e) != 0)
				abort();
		fuzz_config_check_list(&cfg.smtp_listen);
		fuzz_config_check_list(&cfg.submission_listen);
		fuzz_config_check_list(&cfg.submissions_listen);
		fuzz_config_check_list(&cfg.imap_listen);
		fuzz_config_check_list(&cfg.imaps_listen);
		fuzz_config_check_list(&cfg.dns_servers);
		if (cfg.n_retry_schedule == 0 || cfg.max_recipients == 0 || cfg.relay_port == 0)
			abort();
		for (size_t i = 0; i < cfg.domains.n; i++)
			if (!config_is_local_domain(&cfg, cfg.domains.items[i]))
				abort();
		for (size_t i = 0; i < cfg.n_relay_networks; i++) {
			const struct config_cidr *c = &cfg.relay_networks[i];
			if (c->prefix > (c->family == AF_INET ? 32u : 128u))
				abort();
		}
	} else if (strncmp(err, "fuzz.conf:", 10) != 0) {
		abort();
	}
	config_free(&cfg);

	/* The single-value parsers over the same bytes as a string. */
	char *s = xstrndup((const char *)data, size < 256 ? size : 256);
	struct config_hostport hp;
	struct config_cidr c;
	uint16_t port;
	(void)config_parse_size(s, &v);
	(void)config_parse_duration(s, &v);
	(void)config_parse_millis(s, &v);
	(void)config_parse_milter(s, &m, &e);
	(void)config_value_count(s, &v, &e);
	(void)config_value_port(s, &port, &e);
	if (config_value_hostport(s, 0, false, &hp, &e) == 0 &&
	    (hp.port == 0 || hp.host[0] == '\0'))
		abort();
	(void)config_value_hostport(s, 53, true, &hp, &e);
	if (config_value_cidr(s, &c, &e) == 0 && c.prefix > (c.family == AF_INET ? 32u : 128u))
		abort();
	(void)config_value_domain(s, &e); /* last: it rewrites s */
	free(s);
	return 0;
}
