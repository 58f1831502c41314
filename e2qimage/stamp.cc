// Provenance stamping shared by every mode that writes qcow2.
#include "e2qimage/stamp.h"

#include <cerrno>
#include <cstdlib>
#include <ctime>

#include "config.h"
#include "lib/image/digest_sink.h"

namespace e2q::cli {

Result<int64_t> CreationTime() {
  const char* epoch = std::getenv("SOURCE_DATE_EPOCH");
  if (epoch == nullptr || *epoch == '\0') {
    return static_cast<int64_t>(std::time(nullptr));
  }
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(epoch, &end, 10);
  if (errno != 0 || *end != '\0' || !(*epoch >= '0' && *epoch <= '9')) {
    return Status::InvalidArgument(std::string("SOURCE_DATE_EPOCH '") + epoch +
                                   "': not a decimal number of seconds");
  }
  return static_cast<int64_t>(v);
}

Result<image::Provenance> NewProvenance(image::ImageKind kind,
                                        uint64_t guest_size) {
  image::Provenance p;
  p.kind = kind;
  p.flags = 0;
  p.tool_version = PACKAGE_VERSION;
  E2Q_ASSIGN_OR_RETURN(p.created, CreationTime());
  p.guest_size = guest_size;
  return p;
}

void ReserveProvenance(const image::Provenance& record,
                       qcow2::WriterOptions* wo) {
  wo->extensions.push_back(
      qcow2::HeaderExtension{qcow2::kExtE2qProvenance, record.Encode()});
}

Result<std::unique_ptr<image::ImageSink>> NewStampingSink(
    image::ImageSink* inner, qcow2::Qcow2Writer* writer,
    image::Provenance record) {
  E2Q_RETURN_IF_ERROR(record.Validate());
  const uint64_t size = record.guest_size;
  return image::NewDigestSink(
      inner, size, 1, [writer, record](const image::Digest128& digest) mutable {
        record.digest = digest;
        return writer->SetExtension(qcow2::kExtE2qProvenance, record.Encode());
      });
}

}  // namespace e2q::cli
