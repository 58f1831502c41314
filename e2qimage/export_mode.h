// Export mode: DEVICE (an ext2/3/4 filesystem) -> raw or qcow2 image.
#ifndef E2Q_E2QIMAGE_EXPORT_MODE_H_
#define E2Q_E2QIMAGE_EXPORT_MODE_H_

#include <functional>
#include <memory>

#include "e2qimage/options.h"
#include "lib/base/status.h"
#include "lib/qcow2/cluster_compressor.h"
#include "lib/qcow2/qcow2_writer.h"

namespace e2q::cli {

// Runs `e2qimage -r|-Q [...] DEVICE IMAGE-FILE`.  Warnings (what could not
// be read on a damaged filesystem) go to stderr; errors are returned.
Status RunExport(const Options& options);

// The compressor for -z / --compress=zstd (which also sets the writer's
// compression type); shared by export and qcow2 re-packing.
Result<std::unique_ptr<qcow2::ClusterCompressor>> NewCompressor(
    const Options& options, uint32_t cluster_bits, qcow2::Qcow2Writer* writer);
// The same for any writer: `set_type` receives the header compression type
// when it is not deflate.
Result<std::unique_ptr<qcow2::ClusterCompressor>> NewCompressor(
    const Options& options, uint32_t cluster_bits,
    const std::function<Status(uint8_t)>& set_type);

// The cluster-size rule of the command-line contract (qcow2::
// ChooseClusterBits): an explicit --cluster-size, else `preferred_bits`,
// raised while the L1 table would exceed qemu's 32 MiB.  Returns log2 of
// the size.
Result<uint32_t> ChooseClusterBits(const Options& options,
                                   uint64_t virtual_size,
                                   uint32_t preferred_bits);

// What an export prefers: the filesystem block size for metadata images,
// 64 KiB for -a images.
uint32_t PreferredClusterBits(const Options& options, uint32_t block_size);

}  // namespace e2q::cli

#endif  // E2Q_E2QIMAGE_EXPORT_MODE_H_
