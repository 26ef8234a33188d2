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
    }
}

/// The result of reading one view for one row, borrowed from the read transaction.
public enum ViewLookup {
    case notFound
    case present(StoredRowView)
    case stale(StoredRowView)
}

/// Encodes a `GetFeaturesResponse` from lookups, in two passes: sizes first (nested messages are length-prefixed),
/// then bytes, so the output is written once with no moves.
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
        let projections = plan.plan.projections
        let width = projections.count
        precondition(lookups.count == rows * width, "one lookup per row and view")
        self.viewLengths.removeAll(keepingCapacity: true)
        self.rowLengths.removeAll(keepingCapacity: true)

        var total = plan.headerFields.count
        for row in 0..<rows {
            var rowLength = 0
            for column in 0..<width {
                let length = Self.viewResultLength(lookups[row * width + column], projections[column].featureIndexes)
                self.viewLengths.append(length)
                rowLength += ProtoWire.lengthDelimitedSize(1, length)
            }
            self.rowLengths.append(rowLength)
            total += ProtoWire.lengthDelimitedSize(2, rowLength)
        }

        output.reserveCapacity(output.count + total)
        output.append(contentsOf: plan.headerFields)
        for row in 0..<rows {
            ProtoWire.appendLengthDelimitedHeader(2, length: self.rowLengths[row], to: &output)
            for column in 0..<width {
                ProtoWire.appendLengthDelimitedHeader(1, length: self.viewLengths[row * width + column], to: &output)
                Self.appendViewResult(lookups[row * width + column], projections[column].featureIndexes, to: &output)
            }
        }
    }

    private static func viewResultLength(_ lookup: ViewLookup, _ features: [Int]) -> Int {
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

    private static func appendViewResult(_ lookup: ViewLookup, _ features: [Int], to output: inout [UInt8]) {
        // Field 1 (status) is a varint: PRESENT = 1, NOT_FOUND = 2, STALE = 3.
        switch lookup {
        case .notFound:
            output.append(0x08)
            output.append(2)
            for _ in features { output.append(contentsOf: StoredRow.missingValueField) }
        case .present(let row), .stale(let row):
            output.append(0x08)
            if case .stale = lookup { output.append(3) } else { output.append(1) }
            for index in features {
                if let field = row.valueField(index) {
                    output.append(contentsOf: field)
                } else {
                    output.append(contentsOf: StoredRow.missingValueField)
                }
            }
            output.append(contentsOf: row.timestampFields)
        }
    }
}
