/**
 * A hand-written text-format SavedModel (what TF's `saved_model.pbtxt` looks like): y = 0.5 * x + 2 for x of shape
 * [-1, 3], signature serving_default. Shared by the import and end-to-end tests.
 */
export const HALF_PLUS_TWO_PBTXT = String.raw`# y = 0.5 * x + 2, written by hand in TF's text format
saved_model_schema_version: 1
meta_graphs {
  meta_info_def {
    tags: "serve"
    tensorflow_version: "2.15.0"
  }
  graph_def {
    node {
      name: "x"
      op: "Placeholder"
      attr { key: "dtype" value { type: DT_FLOAT } }
      attr {
        key: "shape"
        value { shape { dim { size: -1 } dim { size: 3 } } }
      }
    }
    node {
      name: "a"
      op: "Const"
      attr { key: "dtype" value { type: DT_FLOAT } }
      attr {
        key: "value"
        value { tensor { dtype: DT_FLOAT tensor_shape { } float_val: 0.5 } }
      }
    }
    node {
      name: "b"
      op: "Const"
      attr { key: "dtype" value { type: DT_FLOAT } }
      attr {
        key: "value"
        # the same 2.0f as raw little-endian bytes, to exercise escapes in a bytes field
        value { tensor { dtype: DT_FLOAT tensor_shape { } tensor_content: "\000\000\000@" } }
      }
    }
    node { name: "ax" op: "Mul" input: "a" input: "x" attr { key: "T" value { type: DT_FLOAT } } }
    node { name: "y" op: "AddV2" input: ["ax", "b"] attr { key: "T" value { type: DT_FLOAT } } }
    versions { producer: 1645 }
  }
  signature_def {
    key: "serving_default"
    value {
      inputs {
        key: "x"
        value { name: "x:0" dtype: DT_FLOAT tensor_shape { dim { size: -1 } dim { size: 3 } } }
      }
      outputs {
        key: "y"
        value { name: "y:0" dtype: DT_FLOAT tensor_shape { dim { size: -1 } dim { size: 3 } } }
      }
      method_name: "tensorflow/serving/predict"
    }
  }
}
`;
