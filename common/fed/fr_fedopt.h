/* The federated optimiser's settings beyond the server step (fr_fedagg.h): how much
 * local work a round asks of a node, and what the node's local Adam keeps between
 * rounds (docs/protocol.md, "The task").
 *
 * Local epochs. A round of S sites that each train E epochs on their share (about
 * 1/S of the data) moves the model about as far as E/S central epochs, and takes the
 * wall time of E/S central epochs when the sites train in parallel. "auto" (the
 * coordinator's --local-epochs 0) asks for one local epoch per site, S = min-nodes,
 * so that a round is worth about one central epoch in both work and wall time: R
 * rounds then stay within the equal-wall-time budget R x E <= S x central epochs.
 *
 * Local Adam. A node's local Adam starts each round from zero moments ("fresh"), or
 * goes on from the moments it ended its previous round with ("carry"), kept in
 * FR_FEDOPT_MOMENTS_FILE in its state folder (the server optimiser's file format,
 * fr_fedagg.h, written atomically). The moments never leave the node. */
#ifndef FR_FEDOPT_H
#define FR_FEDOPT_H

#include "fed/fr_fedagg.h"
#include "nn/fr_model.h"
#include "util/fr_status.h"

/* The node's moments file, in its state folder. */
#define FR_FEDOPT_MOMENTS_FILE "local-adam.state"

/* The task's local epochs: `configured` when > 0, else (auto) `sites`, at least 1. */
int fr_fedopt_local_epochs(int configured, int sites);

/* m's Adam moments and step into o (host memory, o initialised for m->n parameters):
 * FR_EINVAL when the sizes differ. */
FR_MUST fr_status fr_fedopt_moments_get(const fr_model *m, fr_server_opt *o, fr_err *err);
/* o's moments and step into m, whose parameters stay as they are: FR_EINVAL when the
 * sizes differ or a moment is not finite or a second moment negative (a file that
 * passed its checksum yet would poison training), naming the coordinate. */
FR_MUST fr_status fr_fedopt_moments_put(fr_model *m, const fr_server_opt *o, fr_err *err);

#endif
