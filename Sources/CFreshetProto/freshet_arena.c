// A bump allocator for protobuf-c unpacking (see freshet_arena.h).
#include "freshet_arena.h"

#include <stdint.h>
#include <stdlib.h>

typedef struct FreshetArenaBlock {
    struct FreshetArenaBlock *next;
    max_align_t data[];
} FreshetArenaBlock;

struct FreshetArena {
    ProtobufCAllocator allocator;
    unsigned char *chunk;
    size_t capacity;
    size_t offset;
    FreshetArenaBlock *overflow;
    size_t used;
    size_t high_water;
    size_t limit;
};

static void *arena_alloc(void *data, size_t size) {
    FreshetArena *arena = data;
    const size_t align = _Alignof(max_align_t);
    size_t rounded = (size + align - 1) & ~(align - 1);
    if (rounded < size || arena->used + rounded > arena->limit) {
        return NULL;
    }
    arena->used += rounded;
    if (arena->used > arena->high_water) {
        arena->high_water = arena->used;
    }
    if (arena->offset + rounded <= arena->capacity) {
        void *p = arena->chunk + arena->offset;
        arena->offset += rounded;
        return p;
    }
    FreshetArenaBlock *block = malloc(sizeof(FreshetArenaBlock) + rounded);
    if (block == NULL) {
        return NULL;
    }
    block->next = arena->overflow;
    arena->overflow = block;
    return block->data;
}

static void arena_free(void *data, void *pointer) {
    // Freed all at once by freshet_arena_reset.
    (void)data;
    (void)pointer;
}

FreshetArena *freshet_arena_create(size_t initial, size_t limit) {
    FreshetArena *arena = calloc(1, sizeof(FreshetArena));
    if (arena == NULL) {
        return NULL;
    }
    arena->chunk = malloc(initial);
    if (arena->chunk == NULL) {
        free(arena);
        return NULL;
    }
    arena->capacity = initial;
    arena->limit = limit;
    arena->allocator.alloc = arena_alloc;
    arena->allocator.free = arena_free;
    arena->allocator.allocator_data = arena;
    return arena;
}

ProtobufCAllocator *freshet_arena_allocator(FreshetArena *arena) {
    return &arena->allocator;
}

void freshet_arena_reset(FreshetArena *arena) {
    int overflowed = arena->overflow != NULL;
    while (arena->overflow != NULL) {
        FreshetArenaBlock *next = arena->overflow->next;
        free(arena->overflow);
        arena->overflow = next;
    }
    if (overflowed && arena->high_water > arena->capacity) {
        // Grow the first chunk so that a request like the last one fits in it; keep the old one if out of memory.
        unsigned char *bigger = malloc(arena->high_water);
        if (bigger != NULL) {
            free(arena->chunk);
            arena->chunk = bigger;
            arena->capacity = arena->high_water;
        }
    }
    arena->offset = 0;
    arena->used = 0;
}

size_t freshet_arena_used(const FreshetArena *arena) {
    return arena->used;
}

void freshet_arena_destroy(FreshetArena *arena) {
    if (arena == NULL) {
        return;
    }
    arena->high_water = 0;
    freshet_arena_reset(arena);
    free(arena->chunk);
    free(arena);
}
