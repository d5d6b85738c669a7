      *****************************************************************
      * ACCTINQ  - COMMAREA OF TRANSACTION AINQ (ACCOUNT INQUIRY).
      * IN:  AI-ACCOUNT-NUMBER.   OUT: ALL OTHER FIELDS.
      * AI-RETURN-CODE: 00 OK, 10 ACCOUNT NOT FOUND.
      *****************************************************************
       01  ACCTINQ-COMMAREA.
           05  AI-ACCOUNT-NUMBER       PIC 9(10).
           05  AI-RETURN-CODE          PIC 9(2).
           05  AI-CUSTOMER-NAME        PIC X(30).
           05  AI-ACCOUNT-STATUS       PIC X(1).
               88  AI-ACTIVE           VALUE 'A'.
               88  AI-FROZEN           VALUE 'F'.
           05  AI-BALANCES.
               10  AI-BALANCE          PIC S9(11)V99 COMP-3.
               10  AI-CREDIT-LIMIT     PIC 9(9)V99   COMP-3.
               10  AI-AVAILABLE        PIC S9(11)V99.
           05  AI-INTEREST-RATE        PIC S9(2)V9(4) COMP-3.
           05  AI-LAST-TXN-DATE        PIC 9(8).
           05  FILLER                  PIC X(10).
