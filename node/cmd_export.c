/* fedrecall-node export: a model file's parameters as NAME.npy files under the spec's
 * names, plus the item ids (item_ids.npy, or item_keys.txt for string ids), so that
 * other tools (the PyTorch peer) can load them. */
#include <stdio.h>
#include <string.h>

#include "backend/fr_backend.h"
#include "fr_cmd.h"
#include "nn/fr_modelfile.h"
#include "nn/fr_npy.h"
#include "util/fr_opts.h"

int fr_cmd_export(int argc, char **argv)
{
    const char *model_path = NULL, *dir = NULL;
    int help = 0;
    fr_opt opts[] = {
        {"model", FR_OPT_STR, &model_path, 0, 0, "model file", 1, 0},
        {"npy", FR_OPT_STR, &dir, 0, 0, "folder to write NAME.npy files into", 1, 0},
        {"help", FR_OPT_FLAG, &help, 0, 0, "show this help", 0, 0},
        {0},
    };
    if (fr_opts_handle_help(argc, argv, "fedrecall-node export --model FILE --npy DIR", opts,
                            "fedrecall-node export --model model.frm --npy weights/"))
        return 0;
    fr_err err = {{0}};
    fr_status st = fr_opts_parse(opts, argc, argv, &err);
    if (st)
        return fr_cmd_fail("export", st, err.msg);
    fr_model model = {0};
    if ((st = fr_modelfile_load(&model, fr_backend_cpu(), model_path, &err)) == FR_OK)
        st = fr_npy_export(&model, dir, &err);
    const char *ids = model.item_keys ? "item_keys.txt" : "item_ids.npy";
    fr_model_free(&model);
    if (st)
        return fr_cmd_fail("export", st, err.msg);
    printf("wrote %d tensors and %s to %s\n", FR_NPARAMS, ids, dir);
    return 0;
}
