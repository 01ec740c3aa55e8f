/* cangated: the gateway daemon. */
#include <stdio.h>

int main(void)
{
	fprintf(stderr, "<3>cangated: not built yet\n");
	return 1;
}
