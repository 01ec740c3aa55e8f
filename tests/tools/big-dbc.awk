# big-dbc.awk: a large DBC for tests that need a slow parse (reloads).
#
#   awk -v n=MESSAGES -f tests/tools/big-dbc.awk > big.dbc
#
# n messages Big_0.. with 29-bit ids from 0x100000 up (no test traffic uses
# them), 8 signals each, and a comment per message: about 520 bytes each.
BEGIN {
	print "VERSION \"\"\n\nNS_ :\n\nBS_:\n\nBU_: BIG\n"
	for (m = 0; m < n; m++) {
		printf "BO_ %d Big_%d: 8 BIG\n", 2147483648 + 1048576 + m, m
		for (s = 0; s < 8; s++)
			printf " SG_ Big_%d_S%d : %d|8@1+ (0.5,-10) [-10|117.5] \"u\" BIG\n", m, s, s * 8
		print ""
	}
	for (m = 0; m < n; m++)
		printf "CM_ BO_ %d \"generated message %d\";\n", 2147483648 + 1048576 + m, m
}
