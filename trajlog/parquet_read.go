package trajlog

import (
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/gradcouple/gradcouple/internal/pqguard"
	"github.com/gradcouple/gradcouple/internal/pqnum"
)

// valueBatch is the number of values decoded per call into parquet-go.
const valueBatch = 256

// parallelMin is the batch size from which the prompt column is decoded on
// its own goroutine, in parallel with the other columns.
const parallelMin = 64

// internMax bounds the per-column table of recently seen short strings, and
// internLen the length of the strings it holds. Columns such as run, split,
// env, traj_id and action repeat heavily; sharing their strings saves an
// allocation per value.
const (
	internMax = 4096
	internLen = 128
)

// parquetFile reads step records from one parquet file, column by column in
// batches, reading only the columns it needs.
type parquetFile struct {
	name   string
	closer io.Closer     // the file, when the Reader opened it
	guard  *pqguard.File // checks column chunks before parquet-go reads them
	pf     *parquet.File
	leaves int // leaf columns in the schema
	kv     map[string]string
	cols   []*pqColumn // in Record order; prompt absent with SkipPrompt
	prompt *pqColumn   // the prompt column, nil with SkipPrompt
	lists  []*pqList   // the token-id columns read: none, or prompt_ids and action_ids
	rg     int         // index of the next row group to open
	inRG   bool
	rgRows int64 // rows of the open row group
	left   int64 // rows left in the open row group
	row    int64 // rows returned so far

	skipPrompt bool
}

// pqColumn is the state of one column being read.
type pqColumn struct {
	f      *field
	leaf   int
	pages  parquet.Pages
	page   parquet.Page
	vr     parquet.ValueReader
	vals   []parquet.Value // scratch for decoded values
	last   string
	intern map[string]string
	// decimal is set for a float32 column stored as DECIMAL(p,s), which num
	// decodes with its scale.
	decimal bool
	num     pqnum.Column
}

func corrupt(name string, format string, args ...any) *ValidationError {
	return &ValidationError{File: name, Msg: fmt.Sprintf(format, args...)}
}

// openParquet opens a step-record parquet file: it checks the footer, the
// schema version and the column types, and reads no rows.
func openParquet(name string, ra io.ReaderAt, size int64, opts ReadOptions) (p *parquetFile, err error) {
	defer func() {
		if e := recover(); e != nil {
			p, err = nil, corrupt(name, "corrupt parquet file: decoder failed: %v", e)
		}
	}()
	guard, err := pqguard.Open(ra, size, pqguard.Limits{MaxPageBytes: opts.maxPage()})
	if err != nil {
		var re *pqguard.ReadError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("reading step records from %s: %w", name, err)
		}
		return nil, corrupt(name, "%v", err)
	}
	pf, err := parquet.OpenFile(ra, size,
		parquet.SkipPageIndex(true),
		parquet.SkipBloomFilters(true),
		parquet.ReadBufferSize(64<<10),
	)
	if err != nil {
		return nil, &ValidationError{File: name, Msg: "corrupt parquet footer: " + err.Error(), Err: err}
	}
	p = &parquetFile{
		name:   name,
		guard:  guard,
		pf:     pf,
		leaves: countLeaves(pf.Root()),
		kv:     make(map[string]string),
	}
	for _, kv := range pf.Metadata().KeyValueMetadata {
		p.kv[kv.Key] = kv.Value
	}
	v, ok := p.kv[MetadataSchemaKey]
	if !ok {
		return nil, &ValidationError{File: name, Err: ErrSchemaVersion, Msg: fmt.Sprintf(
			"no %s in the key-value metadata: not a gradcouple step-record file (convert other logs with an adapter; a file re-written by DuckDB needs KV_METADATA {'%s': '%s'})",
			MetadataSchemaKey, MetadataSchemaKey, SchemaVersion)}
	}
	if v != SchemaVersion {
		return nil, &ValidationError{File: name, Err: ErrSchemaVersion, Msg: fmt.Sprintf(
			"schema version %q, this build reads version %q", clip(v), SchemaVersion)}
	}
	if err := p.mapColumns(opts.SkipPrompt); err != nil {
		return nil, err
	}
	return p, nil
}

// countLeaves returns the number of leaf columns under c (without the
// allocations of parquet.Schema.Columns).
func countLeaves(c *parquet.Column) int {
	if c == nil {
		return 0
	}
	if c.Leaf() {
		return 1
	}
	n := 0
	for _, k := range c.Columns() {
		n += countLeaves(k)
	}
	return n
}

// mapColumns finds every Record column in the file schema and checks its type.
func (p *parquetFile) mapColumns(skipPrompt bool) error {
	root := p.pf.Root()
	if root == nil {
		return corrupt(p.name, "corrupt parquet file: no root column")
	}
	for i := range fields {
		f := &fields[i]
		c := root.Column(f.name)
		if c == nil {
			return &ValidationError{File: p.name, Field: f.name, Msg: "missing required column"}
		}
		if msg := checkColumnType(c, f.kind); msg != "" {
			return &ValidationError{File: p.name, Field: f.name, Msg: msg}
		}
		if skipPrompt && i == fieldPrompt {
			p.skipPrompt = true
			continue
		}
		pc := &pqColumn{f: f, leaf: c.Index(), vals: make([]parquet.Value, valueBatch)}
		if f.kind == kindFloat32 && c.Type().Kind() != parquet.Float {
			pc.num, _ = pqnum.Of(c.Type()) // checkColumnType accepted it as a DECIMAL
			pc.decimal = true
		}
		if f.kind == kindString && i != fieldPrompt {
			pc.intern = make(map[string]string)
		}
		if i == fieldPrompt {
			p.prompt = pc
		}
		p.cols = append(p.cols, pc)
	}
	return p.mapLists(root, skipPrompt)
}

// mapLists finds the optional token-id list columns. A file has both or
// neither; with SkipPrompt neither is read.
func (p *parquetFile) mapLists(root *parquet.Column, skipPrompt bool) error {
	var found [len(listFields)]*pqList
	for i := range listFields {
		f := &listFields[i]
		c := root.Column(f.name)
		if c == nil {
			continue
		}
		l, msg := listColumn(c)
		if msg != "" {
			return &ValidationError{File: p.name, Field: f.name, Msg: msg}
		}
		l.f = f
		found[i] = l
	}
	if (found[listPromptIDs] == nil) != (found[listActionIDs] == nil) {
		miss, have := listPromptIDs, listActionIDs
		if found[listActionIDs] == nil {
			miss, have = listActionIDs, listPromptIDs
		}
		return &ValidationError{File: p.name, Field: listFields[miss].name, Msg: fmt.Sprintf(
			"missing column: the file has %s (token ids come in pairs: both columns or neither)", listFields[have].name)}
	}
	if found[0] != nil && !skipPrompt {
		p.lists = found[:]
	}
	return nil
}

// checkColumnType returns why c cannot hold values of kind k, or "". Columns
// may be optional (as DuckDB and pyarrow write them) as long as they hold no
// nulls; narrower integer annotations are accepted for integer columns, and
// DECIMAL(p,s) columns (as DuckDB writes a numeric literal) for float columns,
// read with their scale and rounded once to float32.
func checkColumnType(c *parquet.Column, k kind) string {
	if !c.Leaf() {
		return fmt.Sprintf("is a group of %d columns, want %s", len(c.Columns()), k)
	}
	if c.Repeated() {
		return fmt.Sprintf("is repeated, want a single %s", k)
	}
	t := c.Type()
	var lt format.LogicalTypeValue
	if l := t.LogicalType(); l != nil {
		lt = l.Value
	}
	got := t.Kind().String()
	if lt != nil {
		got += " (" + lt.String() + ")"
	}
	bad := fmt.Sprintf("has type %s, want %s", got, k)
	switch k {
	case kindString:
		if t.Kind() != parquet.ByteArray {
			return bad
		}
		switch lt.(type) {
		case nil, *format.StringType, *format.EnumType:
			return ""
		}
		return bad
	case kindInt32, kindInt8:
		if t.Kind() != parquet.Int32 {
			return bad
		}
		switch it := lt.(type) {
		case nil:
			return ""
		case *format.IntType:
			if it.IsSigned || it.BitWidth < 32 {
				return ""
			}
		}
		return bad
	case kindBool:
		if t.Kind() != parquet.Boolean {
			return bad
		}
	case kindFloat32:
		if _, ok := lt.(*format.DecimalType); ok {
			if _, err := pqnum.Of(t); err != nil {
				return bad + ": " + err.Error()
			}
			return ""
		}
		if t.Kind() != parquet.Float || lt != nil {
			return bad
		}
	}
	return ""
}

func (p *parquetFile) keyValues() map[string]string { return p.kv }

func (p *parquetFile) close() error {
	p.closeRowGroup()
	if p.closer != nil {
		c := p.closer
		p.closer = nil
		return c.Close()
	}
	return nil
}

func (p *parquetFile) read(dst []Record) (int, error) {
	for !p.inRG || p.left == 0 {
		if p.inRG {
			p.closeRowGroup()
		}
		if p.rg >= len(p.pf.Metadata().RowGroups) {
			return 0, io.EOF
		}
		if err := p.openRowGroup(p.rg); err != nil {
			return 0, err
		}
		p.rg++
	}
	n := len(dst)
	if int64(n) > p.left {
		n = int(p.left)
	}
	dst = dst[:n]
	last := int64(n) == p.left
	for i := range dst {
		dst[i].PromptIDs, dst[i].ActionIDs = nil, nil // overwritten by the list columns, if read
	}

	// Decode the prompt column, most of the work, on its own goroutine while
	// this one decodes the others. Each column writes only its own field of
	// dst and its own state. The deferred Wait keeps the goroutine from
	// outliving read even when a decoder panics here.
	var wg sync.WaitGroup
	var pRow int
	var pErr error
	parallel := p.prompt != nil && n >= parallelMin && runtime.GOMAXPROCS(0) > 1
	if parallel {
		wg.Add(1)
		defer wg.Wait()
		go func() {
			defer wg.Done()
			defer func() {
				if e := recover(); e != nil {
					pRow, pErr = -1, &ValidationError{File: p.name, Field: p.prompt.f.name,
						Msg: fmt.Sprintf("corrupt file: decoder failed: %v", e)}
				}
			}()
			pRow, pErr = p.readColumn(p.prompt, dst)
		}()
	}
	bad, badErr := n, error(nil) // first bad row in dst and its error
	note := func(row int, err error) {
		switch {
		case err == nil:
		case row < 0: // the column itself is broken: nothing of the batch is usable
			if bad >= 0 {
				bad, badErr = -1, err
			}
		case row < bad:
			bad, badErr = row, err
		}
	}
	for _, c := range p.cols {
		if parallel && c == p.prompt {
			continue
		}
		note(p.readColumn(c, dst))
	}
	type result struct {
		row int
		err error
	}
	var lists [len(listFields)]result
	for i, c := range p.lists {
		lists[i].row, lists[i].err = p.readList(c, dst, last)
	}
	if parallel {
		wg.Wait()
		note(pRow, pErr)
	}
	for _, r := range lists { // after the flat columns, for their column order
		note(r.row, r.err)
	}
	if bad < 0 {
		return 0, badErr
	}
	if p.skipPrompt {
		for i := range dst[:bad] {
			dst[i].Prompt = "" // SkipPrompt: the prompt column is not read
		}
	}
	for i := range dst[:bad] {
		if f, msg := dst[i].Validate(); f != "" {
			bad, badErr = i, &ValidationError{File: p.name, Row: p.row + int64(i) + 1, Field: f, Msg: msg}
			break
		}
	}
	p.row += int64(bad)
	p.left -= int64(bad)
	return bad, badErr
}

// readColumn decodes len(dst) values of column c into dst. It returns the
// index of the first row with a bad value and its error, or row -1 with an
// error that concerns the column as a whole (truncation, corruption). It
// touches only c and c's field of dst, so columns may be read concurrently.
func (p *parquetFile) readColumn(c *pqColumn, dst []Record) (int, error) {
	off := 0
	for off < len(dst) {
		if c.vr == nil {
			page, err := c.pages.ReadPage()
			if err != nil {
				if err == io.EOF {
					return -1, corrupt(p.name, "corrupt parquet file: column %s ends before row %d", c.f.name, p.row+int64(off)+1)
				}
				return -1, &ValidationError{File: p.name, Field: c.f.name, Msg: "corrupt parquet page: " + err.Error(), Err: err}
			}
			c.page, c.vr = page, page.Values()
		}
		k, err := c.vr.ReadValues(c.vals[:min(len(dst)-off, len(c.vals))])
		if k > 0 {
			if j, msg := c.assign(dst[off:off+k], c.vals[:k]); msg != "" {
				return off + j, &ValidationError{File: p.name, Row: p.row + int64(off+j) + 1, Field: c.f.name, Msg: msg}
			}
			off += k
		}
		switch {
		case err == io.EOF:
			c.releasePage()
		case err != nil:
			return -1, &ValidationError{File: p.name, Field: c.f.name, Msg: "corrupt parquet page: " + err.Error(), Err: err}
		case k == 0:
			return -1, corrupt(p.name, "corrupt parquet page in column %s: no values decoded", c.f.name)
		}
	}
	return 0, nil
}

// assign stores vals into the column's field of dst, and returns the index of
// the first value that does not fit (null, out of range) with a message.
func (c *pqColumn) assign(dst []Record, vals []parquet.Value) (int, string) {
	f := c.f
	for j := range vals {
		v := &vals[j]
		if v.IsNull() {
			return j, "null value"
		}
		switch f.kind {
		case kindString:
			if v.Kind() != parquet.ByteArray {
				return j, "corrupt value of kind " + v.Kind().String()
			}
			s, ok := c.str(v.ByteArray())
			if !ok {
				return j, invalidUTF8(v.ByteArray())
			}
			*f.str(&dst[j]) = s
		case kindInt32:
			if v.Kind() != parquet.Int32 {
				return j, "corrupt value of kind " + v.Kind().String()
			}
			*f.i32(&dst[j]) = v.Int32()
		case kindInt8:
			if v.Kind() != parquet.Int32 {
				return j, "corrupt value of kind " + v.Kind().String()
			}
			x := v.Int32()
			if x < math.MinInt8 || x > math.MaxInt8 {
				return j, fmt.Sprintf("value %d out of the int8 range", x)
			}
			*f.i8(&dst[j]) = int8(x)
		case kindBool:
			if v.Kind() != parquet.Boolean {
				return j, "corrupt value of kind " + v.Kind().String()
			}
			*f.bl(&dst[j]) = v.Boolean()
		case kindFloat32:
			if c.decimal {
				x, err := c.num.Float32(*v)
				if err != nil {
					return j, err.Error()
				}
				*f.f32(&dst[j]) = x
				continue
			}
			if v.Kind() != parquet.Float {
				return j, "corrupt value of kind " + v.Kind().String()
			}
			*f.f32(&dst[j]) = v.Float()
		}
	}
	return 0, ""
}

// str returns b as a string, sharing the string of an equal recent value.
// It reports false when b is not valid UTF-8 (checked once per distinct
// interned value).
func (c *pqColumn) str(b []byte) (string, bool) {
	if string(b) == c.last {
		return c.last, true
	}
	if !utf8.Valid(b) {
		return "", false
	}
	if c.intern == nil || len(b) > internLen {
		c.last = string(b)
		return c.last, true
	}
	s, ok := c.intern[string(b)]
	if !ok {
		if len(c.intern) >= internMax {
			clear(c.intern)
		}
		s = string(b)
		c.intern[s] = s
	}
	c.last = s
	return s, true
}

func (c *pqColumn) releasePage() {
	if c.page != nil {
		parquet.Release(c.page)
	}
	c.page, c.vr = nil, nil
}

// openRowGroup checks the metadata and page headers of row group i for the
// columns read, and opens their pages.
func (p *parquetFile) openRowGroup(i int) error {
	md := &p.pf.Metadata().RowGroups[i]
	rgs := p.pf.RowGroups()
	if i >= len(rgs) {
		return corrupt(p.name, "corrupt parquet footer: row group %d is missing", i)
	}
	if err := pqguard.RowGroup(md, p.leaves); err != nil {
		return corrupt(p.name, "corrupt parquet footer: row group %d: %v", i, err)
	}
	chunks := rgs[i].ColumnChunks()
	rows := md.NumRows
	p.inRG, p.left, p.rgRows = true, rows, rows
	for _, c := range p.cols {
		if c.leaf < 0 || c.leaf >= len(md.Columns) || c.leaf >= len(chunks) {
			return corrupt(p.name, "corrupt parquet footer: row group %d has no chunk for column %s", i, c.f.name)
		}
		// Every column read is flat: checkColumnType refuses repeated ones.
		if err := p.guard.Chunk(&md.Columns[c.leaf].MetaData, rows, true); err != nil {
			return p.chunkError(i, c.f.name, err)
		}
		c.pages = chunks[c.leaf].Pages()
	}
	for _, c := range p.lists {
		if c.leaf < 0 || c.leaf >= len(md.Columns) || c.leaf >= len(chunks) {
			return corrupt(p.name, "corrupt parquet footer: row group %d has no chunk for column %s", i, c.f.name)
		}
		// A list column holds any number of values per row: its rows are
		// counted as they are read (readList).
		cm := &md.Columns[c.leaf].MetaData
		if err := p.guard.Chunk(cm, rows, false); err != nil {
			return p.chunkError(i, c.f.name, err)
		}
		// Every row has at least one value (a null or empty list is one).
		if cm.NumValues < rows || (rows == 0 && cm.NumValues != 0) {
			return &ValidationError{File: p.name, Field: c.f.name, Msg: fmt.Sprintf(
				"corrupt parquet column chunk in row group %d: %d values for %d rows", i, cm.NumValues, rows)}
		}
		c.reset(chunks[c.leaf].Pages())
	}
	return nil
}

// chunkError turns an error of pqguard.Chunk about column name of row group
// i into the reader's error.
func (p *parquetFile) chunkError(i int, name string, err error) error {
	var re *pqguard.ReadError
	if errors.As(err, &re) {
		return fmt.Errorf("reading step records from %s: column %s: %w", p.name, name, err)
	}
	msg := pqguard.ChunkMessage(i, err)
	if errors.Is(err, pqguard.ErrPageLimit) {
		msg += " (ReadOptions.MaxPageBytes)"
	}
	return &ValidationError{File: p.name, Field: name, Msg: msg}
}

func (p *parquetFile) closeRowGroup() {
	for _, c := range p.cols {
		c.releasePage()
		if c.pages != nil {
			c.pages.Close()
			c.pages = nil
		}
	}
	for _, c := range p.lists {
		c.release()
	}
	p.inRG, p.left, p.rgRows = false, 0, 0
}
