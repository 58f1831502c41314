// Stamping qcow2 outputs: every qcow2 file e2qimage writes carries a
// provenance record (provenance.h) with the digest of its guest content.
// The modes fill in what they know about the source; this file adds what
// is the same everywhere (version, the creation time the caller chose) and
// wires the digest from the data stream into the header.
#ifndef E2Q_LIB_IMAGE_STAMP_H_
#define E2Q_LIB_IMAGE_STAMP_H_

#include <cstdint>
#include <memory>

#include "lib/base/status.h"
#include "lib/image/image_sink.h"
#include "lib/image/provenance.h"
#include "lib/qcow2/qcow2_writer.h"

namespace e2q::image {

// A record with the e2qimage version and `created` (seconds since the
// epoch) filled in.
Provenance NewProvenance(ImageKind kind, uint64_t guest_size, int64_t created);

// Adds `record` (digest still zero) to the writer options, so that the
// writer reserves its final size and an oversized header fails at once.
void ReserveProvenance(const Provenance& record, qcow2::WriterOptions* wo);

// A sink in front of `inner` that computes the digest of everything
// written and, when finished, stores `record` with that digest in
// `writer`'s header before the inner sink finishes the image.
Result<std::unique_ptr<ImageSink>> NewStampingSink(ImageSink* inner,
                                                   qcow2::Qcow2Writer* writer,
                                                   Provenance record);

}  // namespace e2q::image

#endif  // E2Q_LIB_IMAGE_STAMP_H_
