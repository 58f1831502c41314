// Inverted export (-X): every state of a next3 filesystem -- each
// exportable snapshot and the live filesystem -- as the internal snapshots
// of one qcow2 file (lib/qcow2/qcow2_multi_writer.h), `current` active.
#ifndef E2Q_E2QIMAGE_INVERTED_EXPORT_H_
#define E2Q_E2QIMAGE_INVERTED_EXPORT_H_

#include "e2qimage/options.h"
#include "lib/base/status.h"

namespace e2q::cli {

// Runs `e2qimage -Q -X [-a] [-z] [-s] DEVICE IMAGE-FILE`.  States are
// written oldest snapshot first and `current` (ID "0", the live
// filesystem, exactly as a plain export) last, each with the block
// selection of its own filesystem; the snapshot table lists `current`,
// then the snapshots newest first.  A filesystem without snapshots gives a
// file with `current` only.
Status RunExportAll(const Options& options);

}  // namespace e2q::cli

#endif  // E2Q_E2QIMAGE_INVERTED_EXPORT_H_
