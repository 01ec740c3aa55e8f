/*
 * bus_null.c: interface = null, a sink that counts what is sent to it and
 * never receives. See bus.h.
 */
#include "daemon/bus_backend.h"

static int null_open(struct bus *b, const struct config_bus *cb,
		     char *errmsg, size_t errlen)
{
	(void)cb;
	(void)errmsg;
	(void)errlen;
	b->state = BUS_STATE_UP;
	return 0;
}

static void null_stop(struct bus *b)
{
	(void)b;
}

static bool null_same_config(const struct bus *b, const struct config_bus *cb)
{
	(void)b;
	(void)cb;
	return true;
}

const struct bus_ops bus_null_ops = {
	.kind = "null",
	.size = sizeof(struct bus),
	.open = null_open,
	.send = bus_send_discard,
	.stop = null_stop,
	.same_config = null_same_config,
};
