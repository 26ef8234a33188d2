// Umbrella header of the protoc-c output for proto/ (generated files under include/ and src/; see
// scripts/generate-proto).
#ifndef CFRESHETPROTO_H
#define CFRESHETPROTO_H

#include "freshet/v1/values.pb-c.h"
#include "freshet/v1/serving.pb-c.h"
#include "freshet/v1/replication.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"

#endif
