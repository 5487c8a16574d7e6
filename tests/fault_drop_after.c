/* Fault points of the test node (build/tests/fedrecall-node-faults, see
 * node/fr_fed_fault.h): with FEDRECALL_TEST_DROP_AFTER=STEP in the environment the
 * node is killed (SIGKILL, nothing flushed or saved but the log line) right after it
 * sent STEP of a secure round, to show that the other members finish the round. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../node/fr_fed.h"
#include "../node/fr_fed_fault.h"

void fr_fed_fault_point(const char *step)
{
    const char *at = getenv("FEDRECALL_TEST_DROP_AFTER");
    if (at && !strcmp(at, step)) {
        fr_fed_log("dropping out after '%s' (FEDRECALL_TEST_DROP_AFTER)", step);
        fflush(stdout);
        raise(SIGKILL);
    }
}
