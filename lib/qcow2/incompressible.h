// LooksIncompressible: a test, in a few microseconds, for clusters that
// deflate cannot shrink (compressed or encrypted file data), so that the
// compressor stores them plain without spending a full compression on them.
//
// libdeflate level 5 takes as long on random bytes as on a library's
// (~490 us per 64 KiB cluster here), only to give up; on the benchmark's
// quick meta tree a third of the clusters are such, and half the
// compression time went on them (bench/compress-notes.md).  zstd gives up
// on them by itself in a few microseconds, so only deflate asks.
//
// The test: the order-0 entropy of bytes sampled at an odd stride (13 for
// 64 KiB clusters, so that records of a power-of-two size do not alias the
// samples onto one field) is within the sampling error of random bytes,
// and no two aligned 4 KiB blocks of the cluster are equal (a repeated
// block of random bytes compresses, whatever its entropy).  A wrong "yes"
// costs at most the bytes deflate would have saved (on the quick usr tree
// 74 KB of 307 MB); it never changes what the image reads as.  Clusters
// under 64 KiB give too few samples and are always compressed.
#ifndef E2Q_LIB_QCOW2_INCOMPRESSIBLE_H_
#define E2Q_LIB_QCOW2_INCOMPRESSIBLE_H_

#include <cstddef>
#include <cstdint>

namespace e2q::qcow2 {

// True if the `len` bytes at `data` (a cluster: a power of two) look like
// random bytes to deflate.
bool LooksIncompressible(const uint8_t* data, size_t len);

}  // namespace e2q::qcow2

#endif  // E2Q_LIB_QCOW2_INCOMPRESSIBLE_H_
