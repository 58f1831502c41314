// Qcow2MultiWriter: streams several guest states into one qcow2 file, one
// internal snapshot per state, storing a cluster that a state shares with
// the state before it only once.
//
// States are written one after the other, oldest first, each through a
// ClusterTarget (normally behind NewQcow2Sink and CopyBlocks), in strictly
// increasing guest order.  A cluster whose content equals the previous
// state's cluster at the same guest offset is not stored again: its L2 entry
// points at the previous state's host cluster (normal or compressed), and an
// L2 table equal to the previous state's whole table is itself shared.  The
// comparison reads the previous state's stored cluster back from the output
// (decompressing it if needed), so it is exact and needs no memory beyond
// one L2 table of each of the two states.  With share_identical, a cluster
// or table equal to any stored before, in any state and at any offset, is
// also stored once (ClusterDedup, checked after the previous state's same
// cluster).
//
// Refcounts follow qemu (doc/qcow2-format.md, "What qemu checks"): a data
// cluster counts once for every L1 table through which it is reachable, an L2
// table once per L1 table that points at it.  The active layer is a copy of the
// last state's L1 table, so every cluster reachable from it has refcount >= 2
// and no COPIED flag is set anywhere -- exactly what qemu leaves after
// `savevm`; `qemu-img check` finds no error and no leak.  The snapshot table
// lists the states last first.  The same calls always give the same bytes.
#ifndef E2Q_LIB_QCOW2_QCOW2_MULTI_WRITER_H_
#define E2Q_LIB_QCOW2_QCOW2_MULTI_WRITER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lib/base/status.h"
#include "lib/io/file.h"
#include "lib/qcow2/cluster_dedup.h"
#include "lib/qcow2/qcow2_cluster_target.h"
#include "lib/qcow2/qcow2_decompress.h"
#include "lib/qcow2/qcow2_file_builder.h"
#include "lib/qcow2/qcow2_format.h"

namespace e2q::qcow2 {

struct MultiWriterOptions {
  uint32_t version = 3;                     // 2 (compat 0.10) or 3 (compat 1.1)
  uint32_t cluster_bits = 16;               // 9..21
  std::vector<HeaderExtension> extensions;  // written after the known ones
  // When false, the last state is the active layer only, with no snapshot
  // entry of its own, and clusters only it uses carry COPIED flags --
  // unless it shares a cluster or table within itself (share_identical):
  // then it is a snapshot too, since a cluster reached twice from the
  // active L1 alone would, once qemu copied one of the two, be left with
  // refcount 1 and no COPIED flag (qemu-img check: an error).
  bool last_state_is_snapshot = true;
  // Also store a cluster or L2 table equal to any stored before (not only
  // to the previous state's at the same place) once (ClusterDedup).
  bool share_identical = true;
};

// One guest state: an internal snapshot of the file.
struct StateInfo {
  std::string id_str;         // unique, non-empty
  std::string name;           // snapshot name
  uint64_t virtual_size = 0;  // bytes; rounded up to a multiple of 512
  uint32_t date_sec = 0;      // snapshot date (the caller pins it)
  uint32_t date_nsec = 0;
};

struct MultiWriterStats {
  uint64_t stored_clusters = 0;      // normal clusters written
  uint64_t compressed_clusters = 0;  // compressed clusters written
  uint64_t reused_clusters = 0;      // entries pointing at an older state's
  uint64_t shared_l2_tables = 0;     // L2 tables taken over whole
  uint64_t equal_clusters = 0;       // entries pointing at an equal cluster
  uint64_t equal_l2_tables = 0;      // tables pointing at an equal table
};

class Qcow2MultiWriter {
 public:
  // `out` (not owned) must outlive the writer; it is written from offset 0
  // and its length set by Finish().
  static Result<std::unique_ptr<Qcow2MultiWriter>> Create(
      io::File* out, MultiWriterOptions options);
  ~Qcow2MultiWriter();

  uint64_t cluster_size() const { return uint64_t{1} << opts_.cluster_bits; }
  uint32_t cluster_bits() const { return opts_.cluster_bits; }

  // Compressed clusters use zstd (v3 only).  Call before the first state.
  Status SetCompressionType(uint8_t type);

  // Replaces the header extensions (they are written by Finish()).
  void SetExtensions(std::vector<HeaderExtension> extensions) {
    opts_.extensions = std::move(extensions);
  }

  // Starts the next state.  The returned target (owned by the writer) takes
  // the state's clusters; its Finish() ends the state, and must come before
  // the next BeginState().
  Result<ClusterTarget*> BeginState(StateInfo info);

  // Makes the last state the active layer (see last_state_is_snapshot),
  // writes the L1 tables, the
  // snapshot table, refcounts and the header (last).  Needs at least one
  // finished state.  Does not fsync.
  Status Finish();

  const MultiWriterStats& stats() const { return stats_; }
  uint64_t file_size() const { return file_.file_size(); }

 private:
  class State;
  struct Done {
    StateInfo info;
    std::vector<uint64_t> l1;
    bool shares_within = false;  // a cluster or table it stored used twice
  };

  Qcow2MultiWriter(io::File* out, MultiWriterOptions options);
  // The active L1 table: a second path to the last state (when it is also
  // a snapshot), or its own tables with COPIED flags set where the
  // refcount is 1.
  Result<uint64_t> WriteActiveL1(bool last_is_snapshot);

  io::File* out_;
  MultiWriterOptions opts_;
  uint8_t compression_type_ = kCompressionDeflate;
  Qcow2FileBuilder file_;
  std::unique_ptr<ClusterDecompressor> decompressor_;
  std::unique_ptr<ClusterDedup> dedup_;  // with share_identical
  std::vector<Done> done_;
  std::unique_ptr<State> state_;     // the state being written
  std::unique_ptr<Done> prev_copy_;  // what state_ compares against
  bool finished_ = false;
  MultiWriterStats stats_;
};

}  // namespace e2q::qcow2

#endif  // E2Q_LIB_QCOW2_QCOW2_MULTI_WRITER_H_
