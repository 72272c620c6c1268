// The gRPC status code of each Status code. It comes from the same table
// (status.cc) as the names and HTTP statuses, so the two front ends answer
// one error alike. Its own header so that status.h, which every file
// includes, stays as it is.
#pragma once

#include "mlship/status.h"

namespace mlship {

// The value of grpc::StatusCode for `code`: INVALID_ARGUMENT 3, NOT_FOUND 5,
// UNAVAILABLE 14, DEADLINE_EXCEEDED 4, UNAUTHENTICATED 16,
// FAILED_PRECONDITION 9, INTERNAL 13 (also model load and inference
// failures), RESOURCE_EXHAUSTED 8, OK 0.
int GrpcCodeFor(StatusCode code);

}  // namespace mlship
