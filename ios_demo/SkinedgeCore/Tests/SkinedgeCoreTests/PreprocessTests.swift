import Foundation
@testable import SkinedgeCore
import XCTest
#if canImport(ImageIO)
import SkinedgeImageIO
#endif

/// The model images the app makes are the ones Python makes, byte for byte.
final class PreprocessTests: XCTestCase {
    /// Decode each golden PNG as the app does (ImageIO), preprocess it per the card, and compare
    /// with `model_image/<name>.u8`: EXIF orientation, alpha on white, grey and 16-bit, tiny
    /// and large images, Pillow's resize and the centre crop all take part.
    func testModelImagesAreByteExact() throws {
        #if canImport(ImageIO)
        let golden = try GoldenFolder.open()
        XCTAssertFalse(golden.images.isEmpty)
        for image in golden.images {
            let decoded = try ImageDecoder.decode(try golden.data(image.file), source: image.file)
            XCTAssertTrue(decoded.exact, "\(image.file): decoded through a Core Graphics conversion")
            let got = try Preprocessor.modelImage(decoded.raw, size: golden.inputSize, source: image.file)
            let want = [UInt8](try golden.data(image.modelImage))
            XCTAssertEqual(got.pixels.count, want.count, image.name)
            let diff = zip(got.pixels, want).enumerated().filter { $0.element.0 != $0.element.1 }
            XCTAssertTrue(diff.isEmpty, "\(image.name): \(diff.count) bytes differ from "
                          + "\(image.modelImage), first at byte \(diff.first?.offset ?? -1)")
        }
        #else
        throw XCTSkip("ImageIO is needed to decode the golden PNGs (run on macOS)")
        #endif
    }

    func testUndecodableImageIsRefused() throws {
        #if canImport(ImageIO)
        XCTAssertThrowsError(try ImageDecoder.decode(Data("not an image".utf8), source: "notes.txt")) { error in
            guard case SkinedgeError.badImage(source: "notes.txt", problem: _) = error else {
                return XCTFail("expected a bad-image error, got \(error)")
            }
        }
        let golden = try GoldenFolder.open()
        let png = try golden.data(try XCTUnwrap(golden.images.first).file)
        XCTAssertThrowsError(try ImageDecoder.decode(png.prefix(60), source: "truncated.png"))
        #else
        throw XCTSkip("ImageIO is needed to decode images (run on macOS)")
        #endif
    }

    /// `model_input/<name>.f32` is the model image / 255 in NCHW, bit for bit.
    func testModelInputIsExact() throws {
        let golden = try GoldenFolder.open()
        let withInput = golden.images.filter { $0.modelInput != nil }
        XCTAssertFalse(withInput.isEmpty)
        for image in withInput {
            let got = Preprocessor.modelInput(try golden.modelImage(image))
            let want = try golden.floats(try XCTUnwrap(image.modelInput))
            XCTAssertEqual(got.count, 3 * golden.inputSize * golden.inputSize)
            XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), image.name)
        }
    }

    /// Pillow rotates the golden image stored with EXIF orientation 6; the app reads the same
    /// tag from the PNG's eXIf chunk, and finds none in the others.
    func testExifOrientationIsReadFromPNG() throws {
        let golden = try GoldenFolder.open()
        for image in golden.images {
            let orientation = ExifOrientation.read(from: try golden.data(image.file))
            XCTAssertEqual(orientation, image.name == "exif_rotated_200x150" ? 6 : nil, image.name)
        }
    }

    func testResizedShapeRoundsHalfToEven() {
        XCTAssertEqual(Preprocessor.resizedShape(width: 200, height: 150, size: 128).0, 171)
        XCTAssertEqual(Preprocessor.resizedShape(width: 13, height: 9, size: 64).0, 92)
        // 5 * 128 / 10 = 64 exactly; 3 * 64 / 2 = 96; 1.5 rounds to 2 and 2.5 to 2.
        XCTAssertEqual(Preprocessor.resizedShape(width: 3, height: 2, size: 1).0, 2)
        XCTAssertEqual(Preprocessor.resizedShape(width: 5, height: 2, size: 1).0, 2)
        XCTAssertEqual(Preprocessor.resizedShape(width: 10, height: 300, size: 16).1, 480)
    }

    func testAlphaCompositeOnWhite() {
        for v in [0, 1, 127, 200, 255] {
            XCTAssertEqual(Preprocessor.onWhite(UInt8(v), 255), UInt8(v))
            XCTAssertEqual(Preprocessor.onWhite(UInt8(v), 0), 255)
        }
        XCTAssertEqual(Preprocessor.onWhite(0, 96), 159)  // Pillow: 255 * (1 - 96 / 255) = 159
    }

    func testOrientationsMatchPillowTransposes() throws {
        // 3 x 2 image whose pixel values are their stored index.
        let p: [UInt8] = (0..<6).flatMap { [UInt8($0), 0, 0] }
        let firstColumn = { (o: Int) -> [UInt8] in
            let (out, w, _) = Preprocessor.orient(p, width: 3, height: 2, orientation: o)
            return stride(from: 0, to: out.count / 3, by: w).map { out[$0 * 3] }
        }
        XCTAssertEqual(firstColumn(1), [0, 3])
        XCTAssertEqual(firstColumn(2), [2, 5])       // mirrored
        XCTAssertEqual(firstColumn(3), [5, 2])       // rotated 180
        XCTAssertEqual(firstColumn(6), [3, 4, 5])    // 90 clockwise: bottom row becomes left column
        XCTAssertEqual(firstColumn(8), [2, 1, 0])    // 90 anticlockwise
    }

    func testResizeKeepsAFlatImageFlat() {
        let flat = [UInt8](repeating: 77, count: 37 * 23 * 3)
        for (w, h) in [(11, 7), (90, 56), (37, 23)] {
            let out = PillowResize.resize(flat, width: 37, height: 23, newWidth: w, newHeight: h)
            XCTAssertEqual(out, [UInt8](repeating: 77, count: w * h * 3), "\(w)x\(h)")
        }
    }

    func testImagesOutsideTheLimitsAreRefused() throws {
        let tiny = try RawImage(width: 4, height: 4, channels: 3, samples: .eight([UInt8](repeating: 0, count: 48)))
        XCTAssertThrowsError(try Preprocessor.modelImage(tiny, size: 64, source: "tiny.png")) { error in
            XCTAssertTrue(error.localizedDescription.contains("too small"), "\(error)")
        }
        let strip = try RawImage(width: 1000, height: 10, channels: 1,
                                 samples: .eight([UInt8](repeating: 0, count: 10_000)))
        XCTAssertThrowsError(try Preprocessor.modelImage(strip, size: 64, source: "strip.png")) { error in
            XCTAssertTrue(error.localizedDescription.contains("aspect ratio"), "\(error)")
        }
        XCTAssertThrowsError(try RawImage(width: 10, height: 10, channels: 3, samples: .eight([1, 2, 3])))
        XCTAssertThrowsError(try RawImage(width: 10, height: 10, channels: 5, samples: .eight([])))
    }
}
