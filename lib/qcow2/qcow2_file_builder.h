// Qcow2FileBuilder: the part of writing a qcow2 file that every writer
// shares -- an append-only stream of clusters after the header cluster, the
// refcount of every host cluster, and the closing sequence (refcount table
// and blocks sized so that they count themselves, then the header, last).
//
// Qcow2Writer (one guest state) and Qcow2MultiWriter (several states
// sharing clusters) decide what goes into the file and reference it here;
// the builder guarantees that every cluster of the file ends with exactly
// the refcount its references imply.  Memory: two write buffers (one
// filled while the other is written on a thread of its own; 4 MiB each for
// an O_DIRECT file, 1 MiB otherwise) and 2 bytes per host cluster.
#ifndef E2Q_LIB_QCOW2_QCOW2_FILE_BUILDER_H_
#define E2Q_LIB_QCOW2_QCOW2_FILE_BUILDER_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "lib/base/status.h"
#include "lib/io/aligned_buffer.h"
#include "lib/io/file.h"
#include "lib/io/write_behind.h"
#include "lib/qcow2/qcow2_format.h"

namespace e2q::qcow2 {

class Qcow2FileBuilder {
 public:
  // Refcount order the builder writes (16-bit refcounts, as qemu).
  static constexpr uint32_t kRefcountOrder = 4;

  // Appends never start below this offset.  Probes (blkid, e2fsck, the
  // kernel) look for filesystem signatures in the first 4 KiB of a file:
  // the ext superblock at 1024, LVM labels in sectors 1-3, swap at 4086.
  // With clusters under 4 KiB the first guest clusters would land there,
  // and the qcow2 file would probe as the guest's filesystem (with its
  // UUID).  Clusters between the header and this offset stay holes with
  // refcount 0, which qemu counts as free, not leaked.
  static constexpr uint64_t kFirstAppendOffset = 4096;
  static constexpr uint64_t FirstAppendOffset(uint32_t cluster_bits) {
    return (uint64_t{1} << cluster_bits) > kFirstAppendOffset
               ? uint64_t{1} << cluster_bits
               : kFirstAppendOffset;
  }

  // `out` (not owned) is written from offset 0.  Cluster 0 is reserved for
  // the header (refcount 1); appends start at FirstAppendOffset().
  Qcow2FileBuilder(io::File* out, uint32_t cluster_bits);

  io::File* file() const { return out_; }
  uint64_t cluster_size() const { return uint64_t{1} << bits_; }
  uint32_t cluster_bits() const { return bits_; }
  // Offset of the next appended byte.
  uint64_t pos() const { return pos_; }

  // Appends `len` bytes.  They are gathered in the write buffer, except
  // large ones (1 MiB or more), which go straight from `data` to the file
  // once the buffer and the write in flight are out.
  Status Append(const void* data, size_t len);
  // Appends zeros up to the next cluster boundary.
  Status PadToCluster();
  // Appends `table` as whole clusters (zero-padded) at a cluster boundary
  // and references them once; returns their offset.
  Result<uint64_t> AppendTable(const std::vector<uint64_t>& entries);
  // Starts writing the buffered bytes to the file (in the background).
  Status Flush();
  // Writes the buffered bytes and waits until every write has reached the
  // file (not the disk: no fsync).
  Status Sync();

  // Adds `times` references to every host cluster overlapping
  // [start, end).  kNotSupported when a refcount would pass 65535.
  Status Reference(uint64_t start, uint64_t end, uint32_t times = 1);
  // Adds one reference to the host clusters that L2 `entry` points at: the
  // sectors of compressed data, a normal cluster, nothing for 0 or a zero
  // entry without an offset.
  Status ReferenceEntry(uint64_t entry);
  // Reads the L2 table appended at `offset` (ReadBack) into `entries`.
  Status ReadTable(uint64_t offset, std::vector<uint64_t>* entries);

  // Takes one reference from every host cluster overlapping [start, end)
  // (a reference moved elsewhere); kInvalidArgument at refcount 0.
  Status Unreference(uint64_t start, uint64_t end);
  // The refcount of the host cluster holding byte `offset`.
  uint64_t RefcountAt(uint64_t offset) const;

  // Reads bytes that were appended before (those still in the write buffer
  // from there).
  Status ReadBack(uint64_t offset, void* buf, size_t len);
  // Overwrites bytes appended before (tables fixed up before the header).
  Status Rewrite(uint64_t offset, const void* buf, size_t len);

  // Pads to a cluster, appends the refcount table and refcount blocks, then
  // writes `header` (its refcount_table_offset, refcount_table_clusters and
  // refcount_order are set here) into cluster 0 and sets the file length.
  // Nothing may be appended afterwards.  Does not fsync.
  Status Finish(Header* header);
  // File length, valid after Finish().
  uint64_t file_size() const { return file_size_; }

 private:
  // Where the bytes of [offset, offset + len) that are still in the write
  // buffer begin: buf_start_ clamped to the range (offset + len when none
  // are, offset when all are).  Those below it are in the file, or in the
  // write in flight, which must be drained before the file is used.
  uint64_t BufferedFrom(uint64_t offset, size_t len) const {
    return std::clamp(buf_start_, offset, offset + len);
  }
  // Asks the file to allocate the bytes from reserved_ to past `end`
  // before they are written (File::Reserve); Finish's Truncate releases
  // what was allocated past the end.  Stops asking once the file declines.
  void ReserveTo(uint64_t end);

  io::File* out_;
  const uint32_t bits_;
  uint64_t pos_;
  uint64_t buf_start_;
  uint64_t reserved_;  // the file is allocated up to here
  bool reserving_ = true;
  io::AlignedBuffer buf_;   // aligned, so full flushes can go O_DIRECT
  io::WriteBehind behind_;  // declared last: its thread stops first
  std::vector<uint16_t> refcounts_;
  uint64_t file_size_ = 0;
};

}  // namespace e2q::qcow2

#endif  // E2Q_LIB_QCOW2_QCOW2_FILE_BUILDER_H_
