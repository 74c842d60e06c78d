package adapter

import (
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"

	"github.com/gradcouple/gradcouple/internal/pqguard"
)

// parquet-go trusts the sizes written in a file; package pqguard checks them
// first, so that a hostile TRL table costs about its own size in memory. These
// functions turn its errors into errors naming the file and column.

// maxPageBytes bounds the uncompressed size of one page of a TRL table.
// Completions are long, so the bound is wider than trajlog's default.
const maxPageBytes = 256 << 20

// checkParquetFile checks the magic bytes and the footer of the parquet file r
// of size bytes.
func checkParquetFile(r io.ReaderAt, size int64, name string) (*pqguard.File, error) {
	g, err := pqguard.Open(r, size, pqguard.Limits{MaxPageBytes: maxPageBytes})
	if err != nil {
		var re *pqguard.ReadError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("reading parquet file %s: %w", name, err)
		}
		return nil, invalid(name, 0, "", "%v", err)
	}
	return g, nil
}

// checkParquetPages checks the row groups of f and the page headers of every
// column chunk, before parquet-go reads them.
func checkParquetPages(g *pqguard.File, f *parquet.File, name string) error {
	schema := f.Schema()
	leaves := schema.Columns()
	flat := make([]bool, len(leaves))
	for i, path := range leaves {
		leaf, ok := schema.Lookup(path...)
		flat[i] = ok && leaf.MaxRepetitionLevel == 0
	}
	for gi := range f.Metadata().RowGroups {
		rg := &f.Metadata().RowGroups[gi]
		if err := pqguard.RowGroup(rg, len(leaves)); err != nil {
			return invalid(name, 0, "", "corrupt parquet footer: row group %d: %v", gi, err)
		}
		for ci := range rg.Columns {
			err := g.Chunk(&rg.Columns[ci].MetaData, rg.NumRows, flat[ci])
			var re *pqguard.ReadError
			switch {
			case err == nil:
			case errors.As(err, &re):
				return fmt.Errorf("reading parquet file %s: column %s: %w", name, leaves[ci][0], err)
			default:
				return invalid(name, 0, leaves[ci][0], "%s", pqguard.ChunkMessage(gi, err))
			}
		}
	}
	return nil
}
