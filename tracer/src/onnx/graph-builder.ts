/**
 * The one ONNX graph builder: a thin, typed layer over the `onnx-proto` message types that the
 * architectures, transcoders and the attribution backward use to express their dense math.
 * Every helper returns the name of the value it produces, so a graph reads like the forward pass.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import onnxproto from 'onnx-proto';
import type { StoredMatrix } from '../io/safetensors.js';

const { onnx } = onnxproto;

/** Opset 18: ReduceMean/ReduceSum take their axes as an input. */
const OPSET = 18;

export type ElementType = 'float32' | 'int64';

/** An ONNX model and the folder of the files its external-data weights are read from (null: none). */
export interface BuiltGraph {
  bytes: Uint8Array;
  externalDataFolder: string | null;
}

const ELEMENT_TYPE: Record<ElementType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
};

/** The 16-bit float formats a checkpoint stores and an initializer can keep. */
export type HalfType = 'bfloat16' | 'float16';

const HALF_TYPE: Record<HalfType, number> = {
  bfloat16: onnx.TensorProto.DataType.BFLOAT16,
  float16: onnx.TensorProto.DataType.FLOAT16,
};

/** A weight as the checkpoint stores it: float32 values, or the raw bits of a 16-bit float format. */
export type WeightData = Float32Array | { type: HalfType; bits: Uint16Array };

/** A dimension: a fixed size or a symbolic name that ORT resolves at run time. */
export type Dim = number | string;

type AttributeValue = number | number[] | string | { float: number };

export class GraphBuilder {
  private readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  private readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  private readonly inputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private readonly outputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private counter = 0;
  private readonly constants = new Map<string, string>();

  constructor(readonly name: string) {}

  /** A graph input fed at run time. */
  input(name: string, type: ElementType, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** Marks an existing value as a graph output under `name` (adds an Identity when renamed). */
  output(value: string, name: string, type: ElementType, dims: Dim[]): string {
    if (value !== name) this.nodes.push(onnx.NodeProto.create({ opType: 'Identity', input: [value], output: [name] }));
    this.outputs.push(valueInfo(name, type, dims));
    return name;
  }

  /**
   * A weight baked into the graph; returns a float32 value. `dims` multiply out to its length.
   * A 16-bit weight stays 16-bit in the session (half the resident bytes) and is upcast to float32
   * by a Cast each run, just before the op that reads it: the math is float32 either way.
   */
  weight(name: string, data: WeightData, dims: number[]): string {
    const expected = dims.reduce((a, b) => a * b, 1);
    const values = data instanceof Float32Array ? data : data.bits;
    if (expected !== values.length) throw new Error(`weight ${name}: ${values.length} values for dims [${dims}]`);
    const rawData = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    if (data instanceof Float32Array) {
      this.initializers.push(onnx.TensorProto.create({ name, dataType: ELEMENT_TYPE.float32, dims, rawData }));
      return name;
    }
    const stored = `${name}.${data.type}`;
    this.initializers.push(onnx.TensorProto.create({ name: stored, dataType: HALF_TYPE[data.type], dims, rawData }));
    // session.ts turns ORT's constant folding off, or it would fold this Cast into a float32 initializer.
    return this.op('Cast', [stored], { to: ELEMENT_TYPE.float32 });
  }

  /**
   * Rows [start, end) of a [rows, cols] matrix stored in a file, as external data: ONNX Runtime reads
   * them from the file when the session is created, and JavaScript never holds them. Returns a
   * float32 value (16-bit upcast by a Cast each run, as `weight`). The session must be created with
   * `externalDataFolder` (every stored weight of a graph lies in one folder).
   */
  storedRows(name: string, stored: StoredMatrix, cols: number, start: number, end: number): string {
    const real = realpathSync(stored.file); // a Hugging Face cache links snapshots to blobs/
    const folder = path.dirname(real);
    if (this.externalFolder !== null && this.externalFolder !== folder) {
      throw new Error(`graph ${this.name}: stored weights in two folders (${this.externalFolder}, ${folder})`);
    }
    this.externalFolder = folder;
    const bytes = stored.type === 'float32' ? 4 : 2;
    const stem = stored.type === 'float32' ? name : `${name}.${stored.type}`;
    this.initializers.push(
      onnx.TensorProto.create({
        name: stem,
        dataType: stored.type === 'float32' ? ELEMENT_TYPE.float32 : HALF_TYPE[stored.type],
        dims: [end - start, cols],
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          onnx.StringStringEntryProto.create({ key: 'location', value: path.basename(real) }),
          onnx.StringStringEntryProto.create({ key: 'offset', value: String(stored.offset + start * cols * bytes) }),
          onnx.StringStringEntryProto.create({ key: 'length', value: String((end - start) * cols * bytes) }),
        ],
      }),
    );
    return stored.type === 'float32' ? stem : this.op('Cast', [stem], { to: ELEMENT_TYPE.float32 });
  }

  /** The folder of the files this graph's stored weights are read from (null: none). */
  externalFolder: string | null = null;

  /** The 16-bit weights of columns [start, end) of a [rows, cols] weight (to split a big product). */
  static columns(data: WeightData, rows: number, cols: number, start: number, end: number): WeightData {
    const values = data instanceof Float32Array ? data : data.bits;
    const out =
      data instanceof Float32Array ? new Float32Array(rows * (end - start)) : new Uint16Array(rows * (end - start));
    for (let r = 0; r < rows; r++) out.set(values.subarray(r * cols + start, r * cols + end), r * (end - start));
    return out instanceof Float32Array ? out : { type: (data as { type: HalfType }).type, bits: out };
  }

  /** A small float constant (shared by value). */
  scalar(value: number): string {
    return this.constant(new Float32Array([value]), [], 'float32');
  }

  /** A small int64 constant, for shapes and axes. */
  ints(values: number[]): string {
    return this.constant(BigInt64Array.from(values.map(BigInt)), [values.length], 'int64');
  }

  private constant(data: Float32Array | BigInt64Array, dims: number[], type: ElementType): string {
    const key = `${type}:${dims.join('x')}:${Array.from(data as ArrayLike<number | bigint>).join(',')}`;
    const known = this.constants.get(key);
    if (known) return known;
    const name = `const_${this.constants.size}`;
    this.initializers.push(
      onnx.TensorProto.create({
        name,
        dataType: ELEMENT_TYPE[type],
        dims,
        rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)),
      }),
    );
    this.constants.set(key, name);
    return name;
  }

  /** Adds one node and returns its (first) output name. */
  op(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, nOutputs = 1): string {
    return this.opMulti(opType, inputs, attributes, nOutputs)[0];
  }

  opMulti(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, nOutputs = 1): string[] {
    const outputs = Array.from({ length: nOutputs }, () => `${opType.toLowerCase()}_${this.counter++}`);
    this.nodes.push(
      onnx.NodeProto.create({
        opType,
        input: inputs,
        output: outputs,
        attribute: Object.entries(attributes).map(([name, value]) => attribute(name, value)),
      }),
    );
    return outputs;
  }

  // Shorthands for the ops every architecture uses.
  add = (a: string, b: string) => this.op('Add', [a, b]);
  sub = (a: string, b: string) => this.op('Sub', [a, b]);
  mul = (a: string, b: string) => this.op('Mul', [a, b]);
  div = (a: string, b: string) => this.op('Div', [a, b]);
  matmul = (a: string, b: string) => this.op('MatMul', [a, b]);
  reshape = (x: string, shape: number[]) => this.op('Reshape', [x, this.ints(shape)]);
  transpose = (x: string, perm: number[]) => this.op('Transpose', [x], { perm });
  reduceMean = (x: string, axes: number[]) => this.op('ReduceMean', [x, this.ints(axes)], { keepdims: 1 });
  reduceSum = (x: string, axes: number[], keepdims = 1) => this.op('ReduceSum', [x, this.ints(axes)], { keepdims });
  sqrt = (x: string) => this.op('Sqrt', [x]);
  unsqueeze = (x: string, axes: number[]) => this.op('Unsqueeze', [x, this.ints(axes)]);
  /** x[..., start:end] along `axis`; start and end are numbers, or the names of int64 [1] values. */
  slice = (x: string, start: number | string, end: number | string, axis: number) =>
    this.op('Slice', [x, this.index(start), this.index(end), this.ints([axis])]);
  private index = (i: number | string) => (typeof i === 'string' ? i : this.ints([i]));

  /** The serialised graph with the folder its stored weights are read from (GraphSession.create's last two arguments). */
  built(): BuiltGraph {
    return { bytes: this.build(), externalDataFolder: this.externalFolder };
  }

  /** Serialises the graph into an ONNX model ready for `InferenceSession.create`. */
  build(): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'circuit-atlas',
      opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: OPSET })],
      graph: onnx.GraphProto.create({
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      }),
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(name: string, type: ElementType, dims: Dim[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType: ELEMENT_TYPE[type],
        shape: onnx.TensorShapeProto.create({
          dim: dims.map((d) =>
            typeof d === 'number'
              ? onnx.TensorShapeProto.Dimension.create({ dimValue: d })
              : onnx.TensorShapeProto.Dimension.create({ dimParam: d }),
          ),
        }),
      }),
    }),
  });
}

function attribute(name: string, value: AttributeValue) {
  const { AttributeType } = onnx.AttributeProto;
  if (typeof value === 'number') return onnx.AttributeProto.create({ name, type: AttributeType.INT, i: value });
  if (typeof value === 'string')
    return onnx.AttributeProto.create({ name, type: AttributeType.STRING, s: new TextEncoder().encode(value) });
  if (Array.isArray(value)) return onnx.AttributeProto.create({ name, type: AttributeType.INTS, ints: value });
  return onnx.AttributeProto.create({ name, type: AttributeType.FLOAT, f: value.float });
}
