package trajlog

// SchemaVersion is the version of the step-record schema. It is written to the
// key-value metadata of every parquet file under MetadataSchemaKey and checked on
// read. Adding a field keeps the version; renaming or retyping one bumps it.
const SchemaVersion = "1"

// MetadataSchemaKey is the parquet key-value metadata key that holds SchemaVersion.
const MetadataSchemaKey = "gradcouple.schema_version"

// MetadataDerivedKey is the parquet key-value metadata key that lists, comma
// separated, the fields an adapter derived rather than read (for example
// "group_id,advantage").
const MetadataDerivedKey = "gradcouple.derived"

// Label values of Record.Label.
const (
	LabelBad     int8 = 0
	LabelGood    int8 = 1
	LabelUnknown int8 = -1
)

// Splits of Record.Split.
const (
	SplitTrain   = "train"
	SplitEvalIn  = "eval-in"
	SplitEvalOut = "eval-out"
)

// Record is one agent step: the canonical row of DESIGN.md §3.1.
// Field names (the parquet and json tags) are stable.
type Record struct {
	Run        string  `parquet:"run,dict" json:"run"`
	Iteration  int32   `parquet:"iteration" json:"iteration"`
	Split      string  `parquet:"split,dict" json:"split"`
	Env        string  `parquet:"env,dict" json:"env"`
	TaskType   string  `parquet:"task_type,dict" json:"task_type"`
	TaskID     string  `parquet:"task_id" json:"task_id"`
	GroupID    string  `parquet:"group_id" json:"group_id"`
	TrajID     string  `parquet:"traj_id" json:"traj_id"`
	Turn       int32   `parquet:"turn" json:"turn"`
	StateKey   string  `parquet:"state_key" json:"state_key"`
	Prompt     string  `parquet:"prompt" json:"prompt"`
	Action     string  `parquet:"action" json:"action"`
	Valid      bool    `parquet:"valid" json:"valid"`
	Logprob    float32 `parquet:"logprob" json:"logprob"`
	Label      int8    `parquet:"label" json:"label"`
	LabelVotes int8    `parquet:"label_votes" json:"label_votes"`
	Corrected  bool    `parquet:"corrected" json:"corrected"`
	StepReward float32 `parquet:"step_reward" json:"step_reward"`
	Outcome    float32 `parquet:"outcome" json:"outcome"`
	Success    bool    `parquet:"success" json:"success"`
	Advantage  float32 `parquet:"advantage" json:"advantage"`

	// PromptIDs and ActionIDs are the token ids the actor was conditioned on
	// and the ids it produced, as the trainer logged them (verl, verl-agent,
	// rLLM): exact where decoded text is not (special tokens, tokenizer
	// round trips). Optional: both empty when the log has no ids, both
	// non-empty otherwise (see Validate). Written as parquet LIST<INT32>
	// columns, null when empty, and left out of JSONL lines when empty. A
	// reader returns nil, never an empty non-nil slice, for a record
	// without ids.
	PromptIDs []int32 `parquet:"prompt_ids,list,optional" json:"prompt_ids,omitempty"`
	ActionIDs []int32 `parquet:"action_ids,list,optional" json:"action_ids,omitempty"`
}
