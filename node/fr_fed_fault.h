/* The node's fault points: places in a secure round where a test build can make the
 * node fail as a real one would (tests/fault_drop_after.c kills it after a step, to
 * show that the others finish the round). The product links fr_fed_fault_none.c,
 * where a fault point does nothing, so that no switch in a shipped node can make it
 * misbehave. */
#ifndef FR_FED_FAULT_H
#define FR_FED_FAULT_H

/* Called right after the node has sent a secure-aggregation step ("advertise",
 * "shares", "masked"). */
void fr_fed_fault_point(const char *step);

#endif
