// Rollback modes: `-R ID [-n] DEVICE UNDO-FILE` rolls an unmounted next3
// filesystem back to snapshot ID, saving what it overwrites in UNDO-FILE;
// `-U UNDO-FILE DEVICE` writes the saved blocks back.  The engine is
// snapshot/rollback.h; this file adds next3, the refusals that need paths
// (mounted devices, existing undo files), messages and the crash test hook.
#ifndef E2Q_E2QIMAGE_ROLLBACK_MODE_H_
#define E2Q_E2QIMAGE_ROLLBACK_MODE_H_

#include "e2qimage/options.h"
#include "lib/base/status.h"

namespace e2q::cli {

Status RunRollback(const Options& options);
Status RunUndo(const Options& options);
// -I IMAGE DEVICE UNDO-FILE: install a full image or an increment.
Status RunInstall(const Options& options);

}  // namespace e2q::cli

#endif  // E2Q_E2QIMAGE_ROLLBACK_MODE_H_
