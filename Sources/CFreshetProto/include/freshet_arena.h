// A bump allocator for protobuf-c: unpacking a request takes memory from one reusable chunk, and the whole request
// is freed at once by freshet_arena_reset. One arena belongs to one event loop thread; it is not thread-safe.
#ifndef FRESHET_ARENA_H
#define FRESHET_ARENA_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

typedef struct FreshetArena FreshetArena;

/// Creates an arena whose first chunk holds `initial` bytes and that refuses (returns NULL from alloc, so that
/// protobuf-c fails the unpack) once `limit` bytes are in use. Returns NULL when out of memory.
FreshetArena *freshet_arena_create(size_t initial, size_t limit);

/// The protobuf-c allocator view of the arena; valid until freshet_arena_destroy.
ProtobufCAllocator *freshet_arena_allocator(FreshetArena *arena);

/// Frees everything allocated since the last reset. Memory handed out before is invalid afterwards.
/// The first chunk grows to the high-water mark so that the next request of the same size needs one chunk.
void freshet_arena_reset(FreshetArena *arena);

/// Bytes handed out since the last reset.
size_t freshet_arena_used(const FreshetArena *arena);

/// Frees the arena and everything in it.
void freshet_arena_destroy(FreshetArena *arena);

#endif
