// The export engine: a filesystem (or a next3 snapshot's image of one) into
// a raw or qcow2 image.  The command line, the -X multi-state export and
// the fuzzer all go through it, in two steps:
//
//   PlanExport   chooses the blocks (lib/ext4) and plans -s (lib/scramble);
//                its warnings come back as values, before anything is
//                written, and its size bounds the output (OutputFile).
//   WriteExport  builds the sinks -- cluster size, compressor, provenance
//                record, base of an incremental image -- and copies the
//                planned blocks (CopyPlan) into the caller's output file.
//
// Nothing here prints, exits or reads the environment: the creation time,
// progress display and output file are the caller's.
#ifndef E2Q_LIB_IMAGE_EXPORT_H_
#define E2Q_LIB_IMAGE_EXPORT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lib/base/block_set.h"
#include "lib/base/status.h"
#include "lib/ext4/ext2_fs.h"
#include "lib/ext4/ext4_skipped_refs.h"
#include "lib/image/copy_pipeline.h"
#include "lib/image/image_sink.h"
#include "lib/io/file.h"
#include "lib/qcow2/cluster_compressor.h"
#include "lib/scramble/scramble.h"

namespace e2q::image {

// A warning about one object (a device, a snapshot image): the run goes on.
struct Warning {
  std::string object;
  std::string what;
};

struct PlanOptions {
  bool all_data = false;           // -a: data blocks too
  uint64_t backup_superblock = 0;  // -b: the superblock fs was opened by
  bool scramble = false;           // -s
  unsigned threads = 0;            // selection threads (SelectOptions)
  // Leaves the directory pass for entries naming skipped inodes to
  // WriteExport's copy (ext4::SelectOptions::defer_dir_refs).
  bool defer_dir_refs = false;
};

// What will be copied from one filesystem, and how.
struct ExportPlan {
  BlockSet blocks;
  std::unique_ptr<scramble::Scrambler> scrambler;  // with -s
  uint32_t block_size = 0;
  uint64_t byte_size = 0;         // the filesystem's size: the guest size
  std::vector<Warning> warnings;  // selection and -s, in that order
  // The directory pass left to WriteExport (PlanOptions::defer_dir_refs);
  // the blocks it finds are not in `blocks` yet.
  std::shared_ptr<const ext4::SkippedRefs> skipped_refs;
  unsigned threads = 0;  // PlanOptions::threads

  // The most the image holds: the selected blocks.
  uint64_t expected_bytes() const { return blocks.size() * block_size; }
};

// Plans the export of `fs` (open on `source`, whose name the warnings use).
Result<ExportPlan> PlanExport(const ext4::Filesystem& fs,
                              const std::string& source,
                              const PlanOptions& options);

// Copies the planned blocks of `source` into `sink` (scrambled with -s);
// `progress`, if set, gets the number of blocks done.
Result<CopyStats> CopyPlan(const ExportPlan& plan, io::File* source,
                           ImageSink* sink,
                           const std::function<void(uint64_t)>& progress);

// Compression of qcow2 clusters (-z, --compress).
struct CompressOptions {
  std::optional<int> level;  // none: no compression
  bool zstd = false;         // else deflate
  unsigned threads = 0;      // 0: one per core
};

// The compressor `options` ask for, or null without a level; `set_type` is
// told the header's compression type where it is not deflate.
Result<std::unique_ptr<qcow2::ClusterCompressor>> NewCompressor(
    const CompressOptions& options, uint32_t cluster_bits,
    const std::function<Status(uint8_t)>& set_type);

// The cluster size of a new image (qcow2::ChooseClusterBits): the
// requested one (--cluster-size, bytes) if any, else `preferred_bits`
// raised while the L1 table would pass qemu's limit.  Returns log2.
Result<uint32_t> ClusterBitsFor(uint64_t virtual_size, uint32_t preferred_bits,
                                std::optional<uint64_t> requested_bytes);

// What an export of a `virtual_size`-byte filesystem prefers: 64 KiB
// (qemu-img's default) with -a; for metadata images the filesystem block
// size, doubled (up to 64 KiB) while the L1 table would pass
// kMetadataL1Budget.  The L1 table is a fixed cost (qemu wants one entry
// per L2 table's worth of the whole disk), paid twice in a file with shared
// clusters, and it dominates the metadata image of a large filesystem: on
// an empty 1 TiB ext4 the -Q file is 13.4 MB with 4 KiB clusters and
// 6.2 MB with 16 KiB; -Qz 10.5 MB and 1.5 MB (bench/README.md, "Scale").
// Not with `meta_bg`: its descriptor blocks, each unlike the others, lie
// every few GiB, so each needs an L2 table of its own whatever the cluster
// size, and small clusters (small tables) win: on an empty 256 TiB ext4,
// -Q is 4.3 GB with 32 KiB clusters (the smallest qemu's L1 limit allows)
// and 8.2 GB with 64 KiB.
inline constexpr uint64_t kMetadataL1Budget = 256 << 10;
uint32_t ExportPreferredBits(uint32_t block_size, bool all_data,
                             uint64_t virtual_size, bool meta_bg);

struct WriteOptions {
  bool qcow2 = true;  // else raw
  // qcow2 only:
  uint32_t qcow2_version = 3;
  std::optional<uint64_t> cluster_size;  // bytes (ClusterBitsFor)
  CompressOptions compress;
  int64_t created = 0;  // provenance creation time (seconds)
  // The state the image holds: a next3 snapshot ID, or the live filesystem.
  std::optional<uint32_t> snapshot_id;
  bool all_data = false;  // recorded in the provenance flags
  bool scramble = false;  // idem
  // Equal clusters and L2 tables stored once (qcow2::WriterOptions).
  bool share_identical = true;
  // Incremental (--backing): the base as written into the image header,
  // resolved against `image_path`; `base_snapshot_id`, if set, is the
  // state the base must hold (-x ID1..ID2).
  std::string backing;
  std::string image_path;
  std::optional<uint32_t> base_snapshot_id;
  // Raw only: the output may keep holes (a regular file).
  bool sparse = true;
  // The output can be written again from the start (a regular file, not
  // yet in place): a directory pass the plan left to the copy is made
  // during the copy, which is made again in the rare case that the pass
  // adds blocks.  Otherwise the pass is made before the copy.
  bool rewritable = false;
  std::function<void(uint64_t)> progress;  // blocks done
};

struct ExportReport {
  uint32_t cluster_bits = 0;  // qcow2
  CopyStats stats;
  // The directory pass (when the plan left it to the copy), then blocks
  // past the end of the source.
  std::vector<Warning> warnings;
};

// Writes the image of `plan` (made from `fs`, open on `source`) into `out`,
// from offset 0.  `source_name` names the source in warnings.
Result<ExportReport> WriteExport(const ExportPlan& plan,
                                 const ext4::Filesystem& fs, io::File* source,
                                 const std::string& source_name, io::File* out,
                                 const WriteOptions& options);

}  // namespace e2q::image

#endif  // E2Q_LIB_IMAGE_EXPORT_H_
