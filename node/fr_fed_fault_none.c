/* The product's fault points: none (see fr_fed_fault.h). */
#include "fr_fed_fault.h"

void fr_fed_fault_point(const char *step)
{
    (void)step;
}
