// Provenance stamping shared by every mode that writes qcow2.
#include "lib/image/stamp.h"

#include "config.h"
#include "lib/image/digest_sink.h"

namespace e2q::image {

Provenance NewProvenance(ImageKind kind, uint64_t guest_size, int64_t created) {
  Provenance p;
  p.kind = kind;
  p.flags = 0;
  p.tool_version = PACKAGE_VERSION;
  p.created = created;
  p.guest_size = guest_size;
  return p;
}

void ReserveProvenance(const Provenance& record, qcow2::WriterOptions* wo) {
  wo->extensions.push_back(
      qcow2::HeaderExtension{qcow2::kExtE2qProvenance, record.Encode()});
}

Result<std::unique_ptr<ImageSink>> NewStampingSink(ImageSink* inner,
                                                   qcow2::Qcow2Writer* writer,
                                                   Provenance record) {
  E2Q_RETURN_IF_ERROR(record.Validate());
  const uint64_t size = record.guest_size;
  return NewDigestSink(
      inner, size, 1, [writer, record](const Digest128& digest) mutable {
        record.digest = digest;
        return writer->SetExtension(qcow2::kExtE2qProvenance, record.Encode());
      });
}

}  // namespace e2q::image
