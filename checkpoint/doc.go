// Package checkpoint reads and writes the actor's checkpoints (DESIGN.md
// §3.2, §3.3): safetensors files, Hugging Face GPT-2 configs and vocabularies,
// and checkpoint directories, so that a checkpoint written here loads in
// PyTorch with transformers.GPT2LMHeadModel.from_pretrained(dir) and a
// GPT-2 checkpoint written there loads here.
//
// # Safetensors
//
// A safetensors file (https://github.com/huggingface/safetensors) is an
// 8-byte little-endian header length N, N bytes of JSON header
// {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
// {string: string}}, and the data buffer, in which each tensor's
// little-endian, row-major bytes are [begin, end). ReadSafetensors reads and
// validates a header from an io.ReaderAt and returns a File from which
// tensors are read on demand (Tensor for raw bytes; Float32 and Float64
// decode F32, F64, F16 and BF16). WriteSafetensors writes deterministically,
// in the reference implementation's tensor order, with the header padded
// with spaces to a multiple of 8 bytes. StreamWriter writes the same bytes
// for tensors declared up front (name, dtype, shape) whose data are then
// written in order, piece by piece, so a tensor larger than memory (a
// per-sample gradient matrix) streams to disk as it is computed.
//
// # Checkpoint directories
//
// Save writes a Checkpoint (config, F32 weights under HF GPT-2 names,
// vocabulary, optional Adam state, free-form facts) as a directory that
// appears atomically, with a checksum manifest SHA256SUMS written last;
// Load reads one back, checks each file it reads against the manifest (a
// directory without one is read unchecked) and validates every file against
// the config. GPT2Shapes lists the parameter tensors and their shapes in HF's
// layout (Conv1D weights stored [in, out]) and fixes the parameter order.
//
// # Gradient stores
//
// Per-sample gradients computed elsewhere, or exported for other tools
// (DESIGN.md §3.3), are N x D matrices read in row chunks through
// GradStore (OpenGradStore): EleutherAI Bergson indexes (gradients.bin +
// info.json with grad_sizes and base_dtype as create_index writes it today,
// or with the structured dtype of releases before July 2026; or the
// published shards of a sharded run; ParseBergsonInfo, WriteBergsonDir),
// NumPy .npy files (versions 1.0 to 3.0, float16/32/64, C order;
// ReadNPYHeader, NPYHeaderBytes) and a 2-D tensor of a safetensors file.
// F16 and BF16 are converted exactly; AppendFloats writes F32, F16 or BF16
// rounded to nearest even, as numpy and PyTorch do. A NaN or an infinity in
// the rows read is a *NonFiniteError naming the file, the row and the
// column.
//
// # Bad input
//
// Files are hostile until checked. No length or shape read from a file is
// used to allocate memory before it has been checked against the real size
// of the file (a header claiming terabytes is refused after reading 8
// bytes); offsets must tile the data buffer exactly; dtypes and shapes must
// agree with the byte lengths and, for a model file, with the config. Every
// problem is a *ValidationError naming the file, and the tensor and field
// when there is one; its BadInput method makes the command line exit with
// status 2. Nothing in this package panics on any input; fuzz targets cover
// the header, config and vocabulary parsers and the .npy and Bergson
// headers (a .npy header is read only up to MaxNPYHeaderBytes, an info.json
// up to MaxBergsonInfoBytes, whatever they claim).
package checkpoint
