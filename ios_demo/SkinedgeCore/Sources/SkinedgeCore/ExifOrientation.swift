import Foundation

/// The EXIF orientation tag (0x0112) read from a file's bytes as Pillow's `getexif` finds it:
/// a JPEG's APP1 "Exif" segment or a PNG's eXIf chunk. Read here rather than trusted to the
/// platform decoder so that the app rotates exactly the files Python rotates.
public enum ExifOrientation {
    static let tag: UInt16 = 0x0112

    /// 1...8, or nil when the file is neither JPEG nor PNG or carries no orientation.
    public static func read(from data: Data) -> Int? {
        let bytes = [UInt8](data)
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            return fromPNG(bytes)
        }
        if bytes.starts(with: [0xFF, 0xD8]) {
            return fromJPEG(bytes)
        }
        return nil
    }

    private static func fromPNG(_ b: [UInt8]) -> Int? {
        var pos = 8
        while pos + 8 <= b.count {
            let length = Int(be32(b, pos))
            let type = String(decoding: b[(pos + 4)..<(pos + 8)], as: UTF8.self)
            let start = pos + 8, end = start + length
            guard length >= 0, end <= b.count else { return nil }
            if type == "eXIf" { return fromTIFF(Array(b[start..<end])) }
            if type == "IEND" { return nil }
            pos = end + 4  // skip the CRC
        }
        return nil
    }

    private static func fromJPEG(_ b: [UInt8]) -> Int? {
        var pos = 2
        while pos + 4 <= b.count, b[pos] == 0xFF {
            let marker = b[pos + 1]
            if marker == 0xD9 || marker == 0xDA { return nil }  // end of image, start of scan
            let length = Int(b[pos + 2]) << 8 | Int(b[pos + 3])
            let start = pos + 4, end = pos + 2 + length
            guard length >= 2, end <= b.count else { return nil }
            if marker == 0xE1, Array(b[start..<min(start + 6, end)]) == Array("Exif\0\0".utf8) {
                return fromTIFF(Array(b[(start + 6)..<end]))
            }
            pos = end
        }
        return nil
    }

    /// The orientation in IFD0 of a TIFF structure (an optional "Exif\0\0" prefix skipped).
    static func fromTIFF(_ raw: [UInt8]) -> Int? {
        let t = raw.starts(with: Array("Exif\0\0".utf8)) ? Array(raw.dropFirst(6)) : raw
        guard t.count >= 8 else { return nil }
        let little: Bool
        switch (t[0], t[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        func u16(_ i: Int) -> Int {
            little ? Int(t[i]) | Int(t[i + 1]) << 8 : Int(t[i]) << 8 | Int(t[i + 1])
        }
        func u32(_ i: Int) -> Int { little ? u16(i) | u16(i + 2) << 16 : u16(i) << 16 | u16(i + 2) }
        guard u16(2) == 42 else { return nil }
        let ifd = u32(4)
        guard ifd + 2 <= t.count else { return nil }
        for k in 0..<u16(ifd) {
            let entry = ifd + 2 + 12 * k
            guard entry + 12 <= t.count else { return nil }
            if u16(entry) == Int(tag), u16(entry + 2) == 3 {  // SHORT
                let value = u16(entry + 8)
                return (1...8).contains(value) ? value : nil
            }
        }
        return nil
    }

    private static func be32(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }
}
