// Just enough of the ONNX protobuf to read what the page needs before running a model: the
// model's metadata_props (where `skinedge export` stores the model card, under
// "skinedge.model_card") and the shape of the graph's first input. onnxruntime-web does not
// expose metadata_props, so the file is read here.

import { ModelError } from "./errors.js";

// ModelProto.graph = 7, ModelProto.metadata_props = 14; GraphProto.input = 11;
// ValueInfoProto.name = 1, .type = 2; TypeProto.tensor_type = 1; TypeProto.Tensor.shape = 2;
// TensorShapeProto.dim = 1; Dimension.dim_value = 1, .dim_param = 2;
// StringStringEntryProto.key = 1, .value = 2.

function* fields(buf, start, end, name) {
  let o = start;
  const varint = () => {
    let v = 0, mul = 1, b;
    do {
      if (o >= end) throw new ModelError(`${name}: not a readable ONNX model (corrupt or truncated protobuf)`);
      b = buf[o++];
      v += (b & 0x7f) * mul;
      mul *= 128;
    } while (b & 0x80);
    return v;
  };
  while (o < end) {
    const key = varint();
    const field = Math.floor(key / 8), wire = key % 8;
    if (wire === 0) yield { field, wire, value: varint() };
    else if (wire === 1) { o += 8; yield { field, wire }; }
    else if (wire === 5) { o += 4; yield { field, wire }; }
    else if (wire === 2) {
      const len = varint();
      if (o + len > end) throw new ModelError(`${name}: not a readable ONNX model (corrupt or truncated protobuf)`);
      yield { field, wire, start: o, end: o + len };
      o += len;
    } else {
      throw new ModelError(`${name}: not an ONNX model (protobuf wire type ${wire} at byte ${o})`);
    }
  }
  if (o !== end) throw new ModelError(`${name}: not a readable ONNX model (corrupt or truncated protobuf)`);
}

const utf8 = (buf, f) => new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(f.start, f.end));

function dims(buf, f, name) {
  const out = [];
  for (const t of fields(buf, f.start, f.end, name)) { // TypeProto
    if (t.field !== 1 || t.wire !== 2) continue;
    for (const s of fields(buf, t.start, t.end, name)) { // Tensor
      if (s.field !== 2 || s.wire !== 2) continue;
      for (const d of fields(buf, s.start, s.end, name)) { // TensorShapeProto
        if (d.field !== 1 || d.wire !== 2) continue;
        let dim = "?";
        for (const v of fields(buf, d.start, d.end, name)) {
          if (v.field === 1 && v.wire === 0) dim = v.value;
          else if (v.field === 2 && v.wire === 2) dim = utf8(buf, v);
        }
        out.push(dim);
      }
    }
  }
  return out;
}

/**
 * ONNX file bytes -> {metadata: {key: value}, inputs: [{name, dims}]}; ModelError for bytes that
 * are not an ONNX model.
 */
export function readOnnx(buf, name = "<model>") {
  const metadata = Object.create(null); // a key such as "__proto__" stays a key
  const inputs = [];
  let graph = false;
  try {
    for (const f of fields(buf, 0, buf.length, name)) {
      if (f.field === 14 && f.wire === 2) {
        let key = null, value = "";
        for (const e of fields(buf, f.start, f.end, name)) {
          if (e.field === 1 && e.wire === 2) key = utf8(buf, e);
          if (e.field === 2 && e.wire === 2) value = utf8(buf, e);
        }
        if (key !== null) metadata[key] = value;
      } else if (f.field === 7 && f.wire === 2) {
        graph = true;
        for (const g of fields(buf, f.start, f.end, name)) {
          if (g.field !== 11 || g.wire !== 2) continue;
          const vi = { name: "", dims: [] };
          for (const v of fields(buf, g.start, g.end, name)) {
            if (v.field === 1 && v.wire === 2) vi.name = utf8(buf, v);
            if (v.field === 2 && v.wire === 2) vi.dims = dims(buf, v, name);
          }
          inputs.push(vi);
        }
      }
    }
  } catch (err) {
    if (err instanceof ModelError) throw err;
    throw new ModelError(`${name}: not a readable ONNX model (${err.message})`);
  }
  if (!graph) throw new ModelError(`${name}: not an ONNX model, or a corrupt or truncated one (it holds no graph)`);
  return { metadata, inputs };
}
