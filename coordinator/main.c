/* fedrecall-coordinator: the operator's aggregation server. */
#include <stdio.h>

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "fedrecall-coordinator: not built yet\n");
    return 2;
}
