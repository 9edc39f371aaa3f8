//! One exported table: rows written to CSV as they come and to Parquet in row groups of
//! [`EXPORT_BATCH_ROWS`]. The [`row!`] macro declares a row struct with its column types once,
//! which gives both its CSV header (serde) and its Arrow schema.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::error::ReplayError;

/// Rows buffered before a Parquet row group is written.
pub const EXPORT_BATCH_ROWS: usize = 1 << 16;

/// A column type: its Arrow type and how a column of values becomes an array.
pub(crate) trait Column: Sized {
    fn data_type() -> DataType;
    fn array(values: impl Iterator<Item = Self>) -> ArrayRef;
}

impl Column for u64 {
    fn data_type() -> DataType {
        DataType::UInt64
    }
    fn array(values: impl Iterator<Item = Self>) -> ArrayRef {
        Arc::new(UInt64Array::from_iter_values(values))
    }
}

impl Column for u32 {
    fn data_type() -> DataType {
        DataType::UInt32
    }
    fn array(values: impl Iterator<Item = Self>) -> ArrayRef {
        Arc::new(UInt32Array::from_iter_values(values))
    }
}

impl Column for i64 {
    fn data_type() -> DataType {
        DataType::Int64
    }
    fn array(values: impl Iterator<Item = Self>) -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(values))
    }
}

impl Column for &'static str {
    fn data_type() -> DataType {
        DataType::Utf8
    }
    fn array(values: impl Iterator<Item = Self>) -> ArrayRef {
        Arc::new(StringArray::from_iter_values(values))
    }
}

/// A row of an exported table.
pub(crate) trait Row: serde::Serialize + Sized {
    fn fields() -> Vec<Field>;
    fn columns(rows: &[Self]) -> Vec<ArrayRef>;
}

/// Declares a row struct whose fields are [`Column`]s.
macro_rules! row {
    ($(#[$meta:meta])* $name:ident { $($field:ident : $ty:ty),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
        pub struct $name {
            $(pub $field: $ty,)+
        }

        impl $crate::export::table::Row for $name {
            fn fields() -> Vec<arrow_schema::Field> {
                use $crate::export::table::Column;
                vec![$(arrow_schema::Field::new(stringify!($field), <$ty>::data_type(), false),)+]
            }
            fn columns(rows: &[Self]) -> Vec<arrow_array::ArrayRef> {
                use $crate::export::table::Column;
                vec![$(<$ty>::array(rows.iter().map(|r| r.$field)),)+]
            }
        }
    };
}
pub(crate) use row;

/// Which files a table is written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formats {
    pub csv: bool,
    pub parquet: bool,
}

/// Writes one table to `<dir>/<name>.csv` and/or `<dir>/<name>.parquet`.
pub(crate) struct TableWriter<R: Row> {
    csv: Option<(PathBuf, csv::Writer<std::io::BufWriter<File>>)>,
    parquet: Option<(PathBuf, ArrowWriter<File>)>,
    schema: SchemaRef,
    rows: Vec<R>,
    pub(crate) written: u64,
}

impl<R: Row> std::fmt::Debug for TableWriter<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableWriter")
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

fn failed(path: &Path, reason: impl std::fmt::Display) -> ReplayError {
    ReplayError::Export {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

impl<R: Row> TableWriter<R> {
    pub(crate) fn create(dir: &Path, name: &str, formats: Formats) -> Result<Self, ReplayError> {
        let schema: SchemaRef = Arc::new(Schema::new(R::fields()));
        let create = |ext: &str| {
            let path = dir.join(format!("{name}.{ext}"));
            File::create(&path)
                .map(|f| (path.clone(), f))
                .map_err(|e| failed(&path, e))
        };
        let csv = if formats.csv {
            let (path, file) = create("csv")?;
            let writer = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 16, file));
            Some((path, writer))
        } else {
            None
        };
        let parquet = if formats.parquet {
            let (path, file) = create("parquet")?;
            let props = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .build();
            let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
                .map_err(|e| failed(&path, e))?;
            Some((path, writer))
        } else {
            None
        };
        Ok(Self {
            csv,
            parquet,
            schema,
            rows: Vec::with_capacity(EXPORT_BATCH_ROWS),
            written: 0,
        })
    }

    pub(crate) fn push(&mut self, row: R) -> Result<(), ReplayError> {
        if let Some((path, csv)) = self.csv.as_mut() {
            csv.serialize(&row).map_err(|e| failed(path, e))?;
        }
        self.written += 1;
        if self.parquet.is_some() {
            self.rows.push(row);
            if self.rows.len() == EXPORT_BATCH_ROWS {
                self.flush_rows()?;
            }
        }
        Ok(())
    }

    fn flush_rows(&mut self) -> Result<(), ReplayError> {
        let Some((path, writer)) = self.parquet.as_mut() else {
            return Ok(());
        };
        if self.rows.is_empty() {
            return Ok(());
        }
        let batch = RecordBatch::try_new(self.schema.clone(), R::columns(&self.rows))
            .map_err(|e| failed(path, e))?;
        writer.write(&batch).map_err(|e| failed(path, e))?;
        self.rows.clear();
        Ok(())
    }

    /// Writes what is buffered and closes the files.
    pub(crate) fn finish(mut self) -> Result<u64, ReplayError> {
        self.flush_rows()?;
        if let Some((path, mut csv)) = self.csv.take() {
            csv.flush().map_err(|e| failed(&path, e))?;
        }
        if let Some((path, writer)) = self.parquet.take() {
            writer.close().map_err(|e| failed(&path, e))?;
        }
        Ok(self.written)
    }
}
