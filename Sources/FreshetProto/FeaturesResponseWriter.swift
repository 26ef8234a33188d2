// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Builds `GetFeaturesResponse` bytes by concatenating pre-encoded fields copied out of stored rows.

public import FreshetCore

/// A ``QueryPlan`` with everything the response needs pre-encoded: the `views` header fields and the request key
/// names as bytes. Immutable; build once per feature service and share.
public final class EncodedPlan: Sendable {
    /// The plan.
    public let plan: QueryPlan
    /// The encoded `GetFeaturesResponse.views` fields (field 1, one per projection).
    public let headerFields: [UInt8]
    /// The request key names as UTF-8, in ``QueryPlan/requestKeys`` order.
    public let requestKeyNames: [[UInt8]]
    /// The features of every projection, flattened: projection p returns
    /// `featureIndexes[featureStart[p] ..< featureStart[p + 1]]` (indexes into its view's features).
    let featureStart: [Int]
    let featureIndexes: [Int]

    public init(_ plan: QueryPlan) {
        self.plan = plan
        var header: [UInt8] = []
        for projection in plan.projections {
            ProtoWire.appendMessageField(1, to: &header) { view in
                ProtoWire.appendStringField(1, projection.name, to: &view)
                ProtoWire.appendStringField(2, projection.view.name, to: &view)
                for key in projection.requestKeyNames { ProtoWire.appendStringField(3, key, to: &view) }
                for feature in projection.featureNames { ProtoWire.appendStringField(4, feature, to: &view) }
            }
        }
        self.headerFields = header
        self.requestKeyNames = plan.requestKeys.map { Array($0.name.utf8) }
        var start = [0]
        var indexes: [Int] = []
        for projection in plan.projections {
            indexes += projection.featureIndexes
            start.append(indexes.count)
        }
        self.featureStart = start
        self.featureIndexes = indexes
    }
}

/// The result of reading one view for one row, borrowed from the read transaction.
public enum ViewLookup {
    case notFound
    case present(StoredRowView)
    case stale(StoredRowView)
}

/// Encodes a `GetFeaturesResponse` from lookups, in two passes: sizes first (nested messages are length-prefixed),
/// then bytes, copied with `memcpy` into space reserved once, so the output is written once with no moves.
///
/// Thread affinity: loop-confined; its scratch space is reused across calls.
public struct FeaturesResponseWriter {
    private var viewLengths: [Int] = []
    private var rowLengths: [Int] = []

    public init() {}

    /// Appends the response for `rows` × `plan.projections` lookups (row-major) to `output`.
    /// - Parameters:
    ///   - lookups: `lookups[row * projections + projection]`; rows read from LMDB must still be valid (call inside
    ///     the read transaction).
    public mutating func write(plan: EncodedPlan, lookups: [ViewLookup], rows: Int, into output: inout [UInt8]) {
        let width = plan.featureStart.count - 1
        precondition(lookups.count == rows * width, "one lookup per row and view")
        var viewLengths = self.viewLengths
        var rowLengths = self.rowLengths
        self.viewLengths = []
        self.rowLengths = []
        defer {
            viewLengths.removeAll(keepingCapacity: true)
            rowLengths.removeAll(keepingCapacity: true)
            self.viewLengths = viewLengths
            self.rowLengths = rowLengths
        }
        viewLengths.reserveCapacity(lookups.count)
        rowLengths.reserveCapacity(rows)

        var total = plan.headerFields.count
        plan.featureIndexes.withUnsafeBufferPointer { features in
            for row in 0..<rows {
                var rowLength = 0
                for column in 0..<width {
                    let selected = UnsafeBufferPointer(
                        rebasing: features[plan.featureStart[column]..<plan.featureStart[column + 1]])
                    let length = Self.viewResultLength(lookups[row * width + column], selected)
                    viewLengths.append(length)
                    rowLength += ProtoWire.lengthDelimitedSize(1, length)
                }
                rowLengths.append(rowLength)
                total += ProtoWire.lengthDelimitedSize(2, rowLength)
            }
        }

        let start = output.count
        output.append(contentsOf: repeatElement(0, count: total))
        output.withUnsafeMutableBytes { buffer in
            var cursor = ByteCursor(base: buffer.baseAddress! + start)
            cursor.copy(plan.headerFields)
            plan.featureIndexes.withUnsafeBufferPointer { features in
                for row in 0..<rows {
                    cursor.lengthDelimitedHeader(2, length: rowLengths[row])
                    for column in 0..<width {
                        let selected = UnsafeBufferPointer(
                            rebasing: features[plan.featureStart[column]..<plan.featureStart[column + 1]])
                        cursor.lengthDelimitedHeader(1, length: viewLengths[row * width + column])
                        Self.writeViewResult(lookups[row * width + column], selected, to: &cursor)
                    }
                }
            }
            precondition(cursor.pointer == buffer.baseAddress! + start + total, "response size mismatch")
        }
    }

    private static func viewResultLength(_ lookup: ViewLookup, _ features: UnsafeBufferPointer<Int>) -> Int {
        switch lookup {
        case .notFound:
            return 2 + 2 * features.count
        case .present(let row), .stale(let row):
            var length = 2 + row.timestampFields.count
            for index in features {
                length += row.valueField(index)?.count ?? StoredRow.missingValueField.count
            }
            return length
        }
    }

    private static func writeViewResult(
        _ lookup: ViewLookup, _ features: UnsafeBufferPointer<Int>, to cursor: inout ByteCursor
    ) {
        // Field 1 (status) is a varint: PRESENT = 1, NOT_FOUND = 2, STALE = 3.
        switch lookup {
        case .notFound:
            cursor.byte(0x08)
            cursor.byte(2)
            for _ in features { cursor.missingValue() }
        case .present(let row), .stale(let row):
            cursor.byte(0x08)
            if case .stale = lookup { cursor.byte(3) } else { cursor.byte(1) }
            for index in features {
                if let field = row.valueField(index) {
                    cursor.copy(field)
                } else {
                    cursor.missingValue()
                }
            }
            cursor.copy(row.timestampFields)
        }
    }
}

/// Writes bytes at a raw pointer into space the caller has reserved and sized exactly.
struct ByteCursor {
    var pointer: UnsafeMutableRawPointer

    init(base: UnsafeMutableRawPointer) {
        self.pointer = base
    }

    @inline(__always)
    mutating func byte(_ value: UInt8) {
        self.pointer.storeBytes(of: value, as: UInt8.self)
        self.pointer += 1
    }

    @inline(__always)
    mutating func copy(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress else { return }
        self.pointer.copyMemory(from: source, byteCount: bytes.count)
        self.pointer += bytes.count
    }

    mutating func copy(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { self.copy($0) }
    }

    /// A missing value: field 2 with an empty `Value`.
    @inline(__always)
    mutating func missingValue() {
        self.byte(0x12)
        self.byte(0x00)
    }

    @inline(__always)
    mutating func lengthDelimitedHeader(_ field: Int, length: Int) {
        self.varint(UInt64(field) << 3 | 2)
        self.varint(UInt64(length))
    }

    @inline(__always)
    mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            self.byte(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        self.byte(UInt8(value))
    }
}
