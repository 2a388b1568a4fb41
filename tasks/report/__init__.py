"""What analysts look at: the edition report (HTML pages with inline SVG charts) and the Excel workbook."""
