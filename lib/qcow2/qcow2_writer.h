// Qcow2Writer: streams a qcow2 image (version 2 or 3) to a File.
//
// Guest clusters are added in strictly increasing order; their data is
// appended to the file right after the header cluster as it arrives, in
// large writes, and finished L2 tables (those the guest moved past) are
// appended together, up to 8 MiB of them at a time, so that compressed
// clusters stay packed between them.  Finish() then appends the L1 table and
// an exactly sized refcount table and refcount blocks, and writes the
// header last, so an interrupted run never leaves a file that qemu would
// take for a complete image.  Memory is 8 MiB of L2 tables, the L1 table,
// 2 bytes per host cluster and the sharing index (ClusterDedup), not the
// image size.  The same sequence of calls always yields
// the same bytes.
//
// Every qcow2 file it writes passes `qemu-img check` with no errors and no
// leaked cluster: each cluster in the file is referenced exactly as often as
// its refcount says, and COPIED flags are set exactly where refcount == 1.
//
// With share_identical (the default), a data cluster or L2 table whose
// content equals one already stored is not stored again: its entry points
// at the earlier one (ClusterDedup; verified byte for byte).  A file with
// such sharing also gets one internal snapshot, "as-written", whose L1
// table is a copy of the active one: every cluster is then reachable twice,
// no COPIED flag is set, and when qemu later writes one guest cluster of a
// shared pair it copies the L2 table and the cluster as it does after
// `savevm`, so `qemu-img check` stays clean (doc/qcow2-format.md,
// "Identical clusters stored once").  The snapshot is also the way back to
// the image as written: `qemu-img snapshot -a as-written`.  A file in which
// nothing turned out equal is byte for byte what the writer makes without
// sharing; one where sharing saved less than the snapshot's L1 table
// costs gets copies of the shared clusters at its end instead (and no
// snapshot), so sharing never makes a file larger.
#ifndef E2Q_LIB_QCOW2_QCOW2_WRITER_H_
#define E2Q_LIB_QCOW2_QCOW2_WRITER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "lib/base/status.h"
#include "lib/io/file.h"
#include "lib/qcow2/cluster_dedup.h"
#include "lib/qcow2/qcow2_cluster_target.h"
#include "lib/qcow2/qcow2_file_builder.h"
#include "lib/qcow2/qcow2_format.h"
#include "lib/qcow2/qcow2_l2_stream.h"

namespace e2q::qcow2 {

struct WriterOptions {
  uint32_t version = 3;        // 2 (compat 0.10) or 3 (compat 1.1)
  uint32_t cluster_bits = 16;  // 9..21
  uint64_t virtual_size = 0;   // bytes; rounded up to a multiple of 512
  std::vector<HeaderExtension> extensions;  // written after the known ones
  std::string backing_file;    // optional
  std::string backing_format;  // written as extension 0xe2792aca if set
  // Store equal clusters and L2 tables once (see above).
  bool share_identical = true;
  // Date of the "as-written" snapshot (the caller pins it).
  uint32_t snapshot_date_sec = 0;
};

// Name and ID of the snapshot a file with shared clusters carries.
inline constexpr const char* kAsWrittenSnapshotName = "as-written";
inline constexpr const char* kAsWrittenSnapshotId = "1";

class Qcow2Writer : public ClusterTarget {
 public:
  // `out` must outlive the writer; it is written from offset 0 and its length
  // set by Finish().
  static Result<std::unique_ptr<Qcow2Writer>> Create(io::File* out,
                                                     WriterOptions options);
  ~Qcow2Writer() override;

  uint64_t cluster_size() const override {
    return uint64_t{1} << opts_.cluster_bits;
  }
  uint32_t cluster_bits() const override { return opts_.cluster_bits; }
  uint64_t guest_clusters() const override { return guest_clusters_; }
  uint32_t version() const override { return opts_.version; }

  // Each Add* call takes the next guest cluster `index`, which must be
  // greater than every index added before and below guest_clusters().
  //
  // Stores `n` consecutive clusters starting at guest cluster `index`
  // (n * cluster_size() bytes at `data`).  Large runs are written straight
  // from `data`, without a copy through the write buffer.
  // AddDataCluster(index, data) stores one.
  Status AddDataClusters(uint64_t index, const uint8_t* data,
                         uint64_t n) override;
  // Stores `len` bytes (0 < len < cluster_size()) of raw deflate (or zstd,
  // see SetCompressionType) as a compressed cluster, packed at byte
  // granularity after the previous compressed cluster.
  Status AddCompressedCluster(uint64_t index, const uint8_t* data,
                              size_t len) override;
  // Marks the cluster as reading zeros (v3 zero flag; with a backing file
  // this hides the backing file's content).  Version 2 refuses it.
  Status AddZeroCluster(uint64_t index) override;

  // With share_identical: a compressing caller asks about each batch first
  // (ClusterTarget), and plain AddDataClusters() runs share by themselves,
  // so they need no batches.
  bool reuses_clusters() const override { return dedup_ != nullptr; }
  bool wants_batches() const override { return false; }
  Status FindReusable(const uint64_t* indexes, const uint8_t* data, size_t n,
                      std::vector<uint8_t>* reusable) override;
  Status AddReusedCluster(uint64_t index) override;
  void KnowHashes(uint64_t index, const uint64_t* hashes, size_t n) override;

  // Compressed clusters use zstd (header compression_type 1, incompatible
  // bit 3, v3 only).  Call before the first Add*.
  Status SetCompressionType(uint8_t type);

  // Sets the data of header extension `type`: replaces the data of the
  // extension of that type given in WriterOptions::extensions or set
  // earlier (keeping its place), or appends a new one.  The header is
  // written last, by Finish(), so content known only at the end (a digest
  // of the guest data) can be set any time before it.  kInvalidArgument
  // for the types the writer manages itself (0, backing file format), after
  // Finish(), or when header, extensions and backing file name would no
  // longer fit in the first cluster (then nothing changes).  To fail early,
  // pass a placeholder of the final size in WriterOptions::extensions.
  Status SetExtension(uint32_t type, std::vector<uint8_t> data);

  // Writes tables, refcounts and the header, and sets the file length.  Does
  // not fsync: the caller's OutputFile::Commit() does.
  Status Finish() override;

  // Statistics, valid after Finish().
  uint64_t data_clusters() const { return data_clusters_; }
  uint64_t compressed_clusters() const { return compressed_clusters_; }
  // Guest clusters and L2 tables that point at an equal one stored before.
  uint64_t shared_clusters() const { return shared_clusters_; }
  uint64_t shared_tables() const { return shared_tables_; }
  uint64_t file_size() const { return file_.file_size(); }

 private:
  Qcow2Writer(io::File* out, WriterOptions options);
  // Refuses writes after Finish(), then takes clusters [index, index + n)
  // from the L2 stream.
  Status Take(uint64_t index, uint64_t n = 1);
  Status BuildHeader(Header* h) const;
  // Appends `n` clusters (within one L2 table) as stored clusters.
  Status StoreRun(uint64_t index, const uint8_t* data, uint64_t n);
  // Points guest cluster `index` at stored L2 entry `entry`.
  Status Reuse(uint64_t index, StoredCluster stored);
  // The L2 stream's share hook: an equal table, or this one appended.
  Result<uint64_t> ShareTable(const std::vector<uint64_t>& l2);
  // The hash FindReusable() computed for guest cluster `index`, if any.
  bool PendingHash(uint64_t index, uint64_t* hash);
  // Finish() with sharing: the snapshot's references; without: COPIED.
  Status ReferenceSnapshot(const std::vector<uint64_t>& l1);
  Status SetCopiedFlags(std::vector<uint64_t>* l1);
  // Gives every reference to a shared cluster or table a copy of its own.
  Status Unshare(std::vector<uint64_t>* l1);
  // What the as-written snapshot adds to the file: its L1 table and the
  // snapshot table.
  uint64_t SnapshotCost(uint64_t l1_entries) const;

  io::File* out_;
  WriterOptions opts_;
  uint8_t compression_type_ = kCompressionDeflate;
  uint64_t guest_clusters_ = 0;
  bool finished_ = false;

  // The file: append stream, refcounts, closing sequence.
  Qcow2FileBuilder file_;

  uint64_t l1_size_ = 0;
  // The L2 table being filled and the L1 table (made in Create(), once the
  // L1 size is known to be within qemu's limit).  Its tables have
  // refcount 1, so their L1 entries carry COPIED.
  std::optional<Qcow2L2Stream> l2_;

  uint64_t data_clusters_ = 0;
  uint64_t compressed_clusters_ = 0;

  // Sharing (null without share_identical).  shared_ once any entry or
  // table points at an earlier one.
  std::unique_ptr<ClusterDedup> dedup_;
  bool shared_ = false;
  uint64_t saved_bytes_ = 0;  // what sharing left out of the file
  // Clusters shared so far (offsets; compressed: of the data), kept only
  // while saved_bytes_ is within the snapshot's cost.
  std::unordered_map<uint64_t, uint64_t> shared_targets_;  // to bytes
  uint64_t shared_clusters_ = 0;
  uint64_t shared_tables_ = 0;
  // Hashes of the clusters of the current run (equal ones end it).
  std::vector<uint64_t> run_hashes_;
  // From FindReusable(): clusters to reuse (guest index, entry, or 0 with
  // the guest index of an equal cluster earlier in the batch), and the
  // hashes of those to be stored, with the entries they get.
  struct Reusable {
    uint64_t index;
    StoredCluster stored;
    uint64_t same_as;
  };
  std::deque<Reusable> reusable_;
  std::deque<std::pair<uint64_t, uint64_t>> batch_hashes_;
  // From KnowHashes(): hashes of clusters [known_first_, + size()).
  uint64_t known_first_ = 0;
  std::vector<uint64_t> known_;
  std::unordered_map<uint64_t, StoredCluster> batch_entries_;
};

}  // namespace e2q::qcow2

#endif  // E2Q_LIB_QCOW2_QCOW2_WRITER_H_
