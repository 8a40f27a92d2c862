/* daemon.c - the command line and the final handle sweep shared by mtad and imapd. */
#include "daemon.h"

#include <getopt.h>

int daemon_options(int argc, char **argv, const char *name, void (*usage)(FILE *f),
		   const char **conf_r, int *foreground_r)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	*conf_r = NULL;
	*foreground_r = 0;
	while ((ch = getopt_long(argc, argv, "c:f", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			*conf_r = optarg;
			break;
		case 'f':
			*foreground_r = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("%s %s\n", name, MAIL_VERSION);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 64;
	}
	return -1;
}

static void daemon_walk_close(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

void daemon_close_handles(uv_loop_t *loop)
{
	uv_walk(loop, daemon_walk_close, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
}
