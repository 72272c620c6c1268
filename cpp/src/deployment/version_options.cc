// VersionOptions::Validate.
#include "mlship/deployment/version_options.h"

namespace mlship {

Status VersionOptions::Validate() const {
  RETURN_IF_ERROR(batcher.Validate());
  if (intra_op_threads < 0) {
    return Status::InvalidArgument("intra_op_threads must be 0 (auto) or positive; was " +
                                   std::to_string(intra_op_threads));
  }
  if (!monitoring) return Status::Ok();
  monitor::ModelMonitorOptions checked = monitor;
  checked.max_batch_size = batcher.max_batch_size;
  return monitor::ValidateModelMonitorOptions(checked);
}

}  // namespace mlship
