/*
 * frame.h: the frame every module passes around, and the candump -l line
 * format that the evidence log, replay buses, `cangate decode` and
 * `cangate check` read and write.
 */
#ifndef CANGATE_FRAME_H
#define CANGATE_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/can.h>

enum frame_dir {
	FRAME_DIR_NONE = 0, /* the log line had no direction column */
	FRAME_DIR_RX = 'R',
	FRAME_DIR_TX = 'T',
};

struct frame {
	uint64_t t_ns;        /* timestamp, ns since the Unix epoch */
	uint32_t id;          /* arbitration ID without flag bits (error class for error frames) */
	bool ext;             /* 29-bit ID */
	bool rtr;             /* remote request (classic only) */
	bool fd;              /* CAN FD frame */
	bool err;             /* error frame (CAN_ERR_FLAG) */
	uint8_t fd_flags;     /* CANFD_BRS | CANFD_ESI */
	uint8_t len;          /* payload bytes, 0..64 */
	uint8_t raw_dlc;      /* classic DLC 9..15 when given ("_F" suffix), else 0 */
	char dir;             /* enum frame_dir */
	uint8_t data[CANFD_MAX_DLEN];
};

/* Longest line frame_format() can write, with its NUL. */
#define FRAME_LINE_MAX 256
#define FRAME_IFNAME_MAX 32

enum frame_parse_result {
	FRAME_PARSE_OK = 0,
	FRAME_PARSE_SKIP = 1,  /* not a frame line (does not start with '('): ignore */
	FRAME_PARSE_ERROR = -1,
};

/*
 * Parse one candump -l line (without or with its trailing newline):
 *   (1436509052.249713) vcan0 123#0011223344556677 R
 *   (1436509052.249713) can1 12345678#DEAD          extended ID
 *   (1436509052.249713) can0 123#R  /  123#R3        RTR, with length
 *   (1436509052.249713) can0 123##5001122           CAN FD, flags nibble
 *   (1436509052.249713) can0 123#0011_B             raw DLC suffix
 *   (1436509052.249713) can0 20000080#0000000000000000   error frame
 * The timestamp may have 6 (µs) or 9 (ns) fractional digits.
 * Never reads past len. On error fills errmsg (errlen bytes) with a short
 * message naming the column. ifname receives the interface column.
 */
int frame_parse_line(const char *line, size_t len, struct frame *f,
		     char ifname[FRAME_IFNAME_MAX], char *errmsg,
		     size_t errlen);

/*
 * A time as candump -l writes it, without the parentheses: SECONDS.FRACTION
 * with 6 (µs) or 9 (ns) fractional digits, the whole of s[0..len), into ns
 * since the epoch. loose also takes what a person types: no fraction, or 1
 * to 9 digits of it ("1436509052", "1436509052.5"). 0, or -1 with errmsg
 * "column N: ..." counted from s.
 */
int frame_parse_time(const char *s, size_t len, bool loose, uint64_t *t_ns,
		     char *errmsg, size_t errlen);

/* Write f as one candump -l line with '\n' into buf (size >= FRAME_LINE_MAX);
 * nanoseconds selects 9 fractional digits instead of 6. Returns its length. */
size_t frame_format(const struct frame *f, const char *ifname,
		    bool nanoseconds, char *buf, size_t size);

/* Conversions to and from the kernel's frame structures. */
void frame_from_can(struct frame *f, const struct canfd_frame *cf, bool fd,
		    uint64_t t_ns);
void frame_to_can(const struct frame *f, struct canfd_frame *cf);

#endif
